"""Normalised identifiers: the form stored, compared, hashed for suppression and
for ad-platform audiences."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from optinbase.errors import invalid_field
from optinbase.i18n import N_


# No control character (CR, LF, NUL, tab...): for names and labels that end up
# in e-mail headers (a tenant's name is in every Subject). A msgspec pattern.
SINGLE_LINE = r"\A[^\x00-\x1f\x7f]*\Z"  # \Z: "$" would match before a final newline


def single_line(raw: str, field: str) -> str:
    """`raw` if it holds no control character; else a 422 naming `field` (such
    a value could never be sent in an e-mail header)."""
    if re.search(r"[\x00-\x1f\x7f]", raw):
        raise invalid_field(field, "must be one line without control characters")
    return raw


def normalise_email(raw: str, field: str = "email") -> str:
    """Trimmed; domain lower-cased (IDNA); local part kept, lower-cased too, since
    practically every provider treats it case-insensitively and duplicates by case
    are the common failure."""
    value = raw.strip()
    if not value or len(value) > 254:
        raise invalid_field(field, "is not a valid e-mail address", N_("form.email_invalid"))
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise invalid_field(field, f"is not a valid e-mail address ({exc})",
                            N_("form.email_invalid")) from None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def normalise_phone(raw: str, default_region: str | None = None, field: str = "phone") -> str:
    """E.164. A number without +country code is read in the tenant's country."""
    value = raw.strip()
    try:
        parsed = phonenumbers.parse(value, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise invalid_field(field, "is not a valid phone number (use E.164, e.g. +33612345678)",
                            N_("form.phone_invalid")) from None
    if not phonenumbers.is_valid_number(parsed):
        raise invalid_field(field, "is not a valid phone number (use E.164, e.g. +33612345678)",
                            N_("form.phone_invalid"))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
