"""Reading import files, without a database: structure errors name the line,
records carry their first physical line, fast e-mail normalisation agrees with
email_validator."""

from __future__ import annotations

import pytest

from consent.imports.parse import MAX_LINE_BYTES, MalformedImport, scan
from consent.imports.validate import fast_email
from optinbase.errors import Invalid
from optinbase.normalise import normalise_email


def records(body: str, fmt: str = "csv"):
    return list(scan(body.encode(), fmt).records())


def test_csv_records_keep_their_line_numbers_across_quoted_newlines_and_blanks():
    body = (
        "email,first_name,attributes.note,consent_channel\n"
        'a@example.com,Ann,"two\nlines",email\n'
        "\n"
        "b@example.com, Bob ,,\n"
    )
    source = scan(body.encode(), "csv")
    assert source.total == 2
    first, second = source.records()
    assert (first.line, first.contact, first.consents) == (
        2, {"email": "a@example.com", "first_name": "Ann", "attributes": {"note": "two\nlines"}},
        [{"channel": "email"}])
    assert (second.line, second.contact, second.consents) == (
        5, {"email": "b@example.com", "first_name": "Bob"}, [])


def test_bom_and_crlf_are_accepted():
    source = scan("\ufeffemail,first_name\r\na@example.com,Ann\r\n".encode(), "csv")
    assert [r.contact for r in source.records()] == [{"email": "a@example.com", "first_name": "Ann"}]


# Files whose records a count of lines would get wrong, and plain ones: the
# count `scan` gives (counted without the reader when it can) is the number
# of records the reader then yields.
_COUNTED = [
    "email\na@example.com\nb@example.com\n",
    "email\na@example.com\nb@example.com",
    "email\r\na@example.com\r\nb@example.com\r\n",
    "email\ra@example.com\rb@example.com",
    "email\na@example.com\r\nb@example.com\rc@example.com\n",
    "email,first_name\na@example.com,Ann\n\nb@example.com,Bob\n",
    "email,first_name\na@example.com,Ann\n , \t\nb@example.com,Bob\n",
    "email,first_name\na@example.com,Ann\n\u00a0,\u2003\n",
    "email,first_name\na@example.com,Ann\n\x0b\n",
    "email,first_name\na@example.com,Ann\r\n\r\n",
    "email,first_name\na@example.com,Ann\n\n\n",
    "\n\nemail,first_name\na@example.com,Ann\n",
    " ,\nemail,first_name\na@example.com,Ann\n",
    "email;first_name\na@example.com;Ann\n ;; \nb@example.com;Bob",
    "email;first_name\na@example.com;Ann\n , \nb@example.com;Bob",
    'email,first_name\na@example.com,"Ann\n\nMarie"\n',
    "email,first_name\na@example.com,Ann\x1cMarie\u2028\n",
    "email\n" + "a@example.com\n" * 3 + "x" * MAX_LINE_BYTES + "\n",  # as long as a line may be
]


@pytest.mark.parametrize("body", _COUNTED)
def test_the_count_of_a_csv_file_is_the_number_of_its_records(body):
    source = scan(body.encode(), "csv")
    assert source.total == len(list(source.records()))


@pytest.mark.parametrize(("body", "line", "mentions"), [
    (b'email\n"a@example.com\n', 2, "quoting"),
    (b'email,first_name\na@example.com,"Bo"b\n', 2, "quoting"),
    (b"email\nren\xe9@example.com\n", 2, "UTF-8"),
    (b"a@example.com,Ann\n", 1, "missing header"),
    (b"email,Email\n", 1, "unknown column 'Email'"),
    (b"email,email\n", 1, "twice"),
    (b"email,\n", 1, "unknown column ''"),
    (b"email\na@example.com\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n", 3, "longer than"),
])
def test_malformed_csv(body, line, mentions):
    with pytest.raises(MalformedImport) as caught:
        scan(body, "csv")
    assert caught.value.extra["line"] == line
    assert mentions in caught.value.detail


@pytest.mark.parametrize(("body", "line", "mentions"), [
    (b'{"contact": {}}\n{"contact": }\n', 2, "not valid JSON"),
    (b'"text"\n', 1, "expected an object"),
    (b'{"contact": {"email": "a@example.com"}, "extra": 1}\n', 1, "unknown field extra"),
    (b'{"consents": [{"channel": "email", "chanel": "x"}]}\n', 1, "consents[0].chanel"),
    (b'{"consents": {"channel": "email"}}\n', 1, "list of objects"),
])
def test_malformed_ndjson(body, line, mentions):
    with pytest.raises(MalformedImport) as caught:
        scan(body, "ndjson")
    assert caught.value.extra["line"] == line
    assert mentions in caught.value.detail


def test_ndjson_records():
    body = '{"contact": {"email": "a@example.com"}, "consents": [{"channel": "sms"}]}\n\n{}\n'
    first, second = records(body, "ndjson")
    assert (first.line, first.contact, first.consents) == (
        1, {"email": "a@example.com"}, [{"channel": "sms"}])
    assert (second.line, second.contact, second.consents) == (3, {}, [])


def test_a_wrong_field_count_is_a_row_problem_not_a_file_problem():
    [row] = records("email,first_name\na@example.com,Ann,extra\n")
    assert row.problem == ("", "has 3 fields, the header has 2")


EMAILS = [
    "Anne.Dupont@Example.FR", "a+tag@sub.example.co.uk", "x_y=z@example.io", "a-b@ex-ample.com",
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com", "a@example-.com",
    "a@example", "a@example.c0m", "a@localhost", "a@printer.local", "a@site.test",
    "a@ab--cd.com", "a@xn--bcher-kva.example", "élodie@exemple.fr", "a@bücher.de",
    "a@" + "x" * 64 + ".com", "a" * 65 + "@example.com", '"quoted"@example.com', "a@[127.0.0.1]",
    "a b@example.com", "a@example.com ", " a@example.com", "a@@example.com", "A@B.CO",
]


@pytest.mark.parametrize("raw", EMAILS)
def test_fast_email_agrees_with_email_validator(raw):
    def outcome(fn):
        try:
            return fn(raw)
        except Invalid:
            return "invalid"

    assert outcome(fast_email) == outcome(normalise_email)


def test_a_french_excel_csv_is_read_semicolons_bom_and_all():
    """Excel (fr-FR) "CSV UTF-8": a byte-order mark, `;` between fields, CRLF."""
    body = "\ufeffemail;first_name;attributes.ville\r\nrené@example.fr;René;Lyon, 3e\r\n"
    [record] = scan(body.encode("utf-8"), "csv").records()
    assert record.contact == {"email": "rené@example.fr", "first_name": "René",
                              "attributes": {"ville": "Lyon, 3e"}}


def test_a_windows_1252_csv_is_refused_saying_so_and_how_to_fix_it():
    body = "email;first_name\r\nrene@example.fr;René\r\n".encode("cp1252")
    with pytest.raises(MalformedImport) as caught:
        scan(body, "csv")
    assert "Windows-1252" in caught.value.detail and "CSV UTF-8" in caught.value.detail
    assert "missing header" not in caught.value.detail


def test_a_csv_value_with_a_nul_rejects_its_row_only():
    body = ("email,first_name,consent_channel\n"
            "a@example.com,Ann,email\n"
            "b@example.com,B\x00b,email\n"
            "c@example.com,,\n")
    first, second, third = records(body)
    assert (first.contact, first.consents, first.problem) == (
        {"email": "a@example.com", "first_name": "Ann"}, [{"channel": "email"}], None)
    assert (second.line, second.contact, second.problem[0]) == (3, {}, "first_name")
    assert (third.contact, third.consents, third.problem) == ({"email": "c@example.com"}, [], None)
