import pytest

from optinbase.errors import Invalid
from optinbase.normalise import normalise_email, normalise_phone


@pytest.mark.parametrize(("raw", "expected"), [
    ("Anne@Example.COM", "anne@example.com"),
    ("  bob@exemple.fr ", "bob@exemple.fr"),
    ("jean@bücher.de", "jean@xn--bcher-kva.de"),
])
def test_email_normalisation(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "plainaddress", "a@b", "a@@example.com", "x" * 250 + "@e.com"])
def test_invalid_emails_are_refused_naming_the_field(raw):
    with pytest.raises(Invalid) as caught:
        normalise_email(raw)
    assert caught.value.extra["errors"][0]["field"] == "email"


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+33 6 12 34 56 78", None, "+33612345678"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("0612345678", "fr", "+33612345678"),
    ("+1 (415) 555-2671", "FR", "+14155552671"),
])
def test_phone_to_e164(raw, region, expected):
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(("raw", "region"), [("06 12 34 56 78", None), ("+33 12", None),
                                              ("call me", "FR"), ("", "FR")])
def test_invalid_phones_are_refused(raw, region):
    with pytest.raises(Invalid):
        normalise_phone(raw, region)
