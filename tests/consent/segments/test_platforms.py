"""Ad-platform normalisation against the platforms' own documented examples.

The Meta values are the worked examples of Meta's "Customer information
parameters" table (input → normalised → SHA-256): `John_Smith@gmail.com`,
`1(650)555-1212`, `Mary`, `Smith`, `Menlo Park`, `United States` → `us`. The
hex digests are written out here (computed with `sha256sum`), not recomputed
with the code under test, so a wrong normalisation cannot agree with itself.
"""

from __future__ import annotations

from consent.segments import platforms as p

META = {
    "em": ("John_Smith@gmail.com",
           "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    "ph": ("+1 (650) 555-1212",
           "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    "fn": ("Mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    "ln": ("Smith", "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd"),
    "ct": ("Menlo Park", "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685"),
    "country": ("US", "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),
    "zip": ("94035", "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e"),
}


def test_meta_documented_examples():
    normalise = {"em": p.meta_email, "ph": p.meta_phone, "fn": p.meta_name, "ln": p.meta_name,
                 "ct": p.meta_city, "country": p.meta_country,
                 "zip": lambda v: p.meta_zip(v, "US")}
    for key, (raw, digest) in META.items():
        assert p.sha256(normalise[key](raw)) == digest, key


def test_meta_normalisation_rules():
    assert p.meta_email("  Anne.Dupont@Example.FR \n") == "anne.dupont@example.fr"
    assert p.meta_phone("+33612345678") == "33612345678"  # no '+', country code kept
    assert p.meta_phone("0033 6 12 34 56 78") == "33612345678"  # no leading zeros
    assert p.meta_name("Valéry") == "valéry"  # UTF-8 kept, as Meta's example
    assert p.meta_name("Jean-Pierre") == "jeanpierre"
    assert p.meta_name("O'Neil.") == "oneil"
    assert p.meta_city("Saint-Denis") == "saintdenis"
    assert p.meta_zip("94035-1234", "US") == "94035"  # US: five digits
    assert p.meta_zip("SW1A 1AA", "GB") == "sw1a1aa"
    assert p.meta_zip(" 75011 ", "FR") == "75011"
    assert p.meta_country("FR") == "fr" and p.meta_country("France") == ""
    assert p.meta_year(1980) == "1980" and p.meta_year(None) == ""
    assert p.meta_gender("Femme") == "f" and p.meta_gender("M") == "m"
    assert p.meta_gender("other") == ""


def test_google_normalisation_rules():
    # Gmail ignores dots in the local part: Google asks to drop them before hashing.
    assert p.google_email(" John.Smith@GMAIL.com ") == "johnsmith@gmail.com"
    assert p.google_email("j.s@googlemail.com") == "js@googlemail.com"
    assert p.google_email("John.Smith@example.com") == "john.smith@example.com"
    assert p.sha256(p.google_email("John.Smith@gmail.com")) == (
        "3586de92bb3636d0885a12eff961429a32e4ebd764b96f50d85d016f9338d586")
    # E.164 with its '+', unlike Meta.
    assert p.google_phone("+1 650 555 1212") == "+16505551212"
    assert p.sha256(p.google_phone("+16505551212")) == (
        "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8")
    assert p.google_name("  John   Smith ") == "john smith"


def test_empty_values_stay_empty_never_the_hash_of_nothing():
    assert p.sha256("") == "" and p.sha256(None) == ""
    row = {"email": "a@example.org", "phone": None, "first_name": None, "last_name": "",
           "attributes": "{}", "postal_code": None, "country": None, "birth_year": None,
           "gender": None}
    assert p.meta_row(row)[1:] == ("",) * 8
    assert p.google_row(row)[1:] == ("", "", "", "", "")


def test_rows_without_email_or_phone_are_left_out():
    rows = [{"email": None, "phone": None, "first_name": "x", "last_name": "y",
             "attributes": {}, "postal_code": "1", "country": "FR", "birth_year": None,
             "gender": None}]
    assert p.encode_meta(rows) == (b"", 0)
    assert p.encode_google(rows) == (b"", 0)
