"""Customer-list files in the upload formats of the ad platforms, for a
`social_ads` audience: every identifier is normalised the way the platform
documents, then SHA-256 hashed (lower-case hex), so no clear address leaves
for the platform and its hashes of the same person match ours.

* `meta` — Meta Custom Audiences customer file (Marketing API "Hashing and
  normalizing data", Conversions API "Customer information parameters"):
  columns `email, phone, fn, ln, ct, zip, country, doby, gen`, every value
  hashed. E-mail trimmed and lower-cased; phone digits only with the country
  code, no `+`, no leading zeros; names lower-case without punctuation, UTF-8
  kept (Valéry → valéry); city lower-case without spaces or punctuation; zip
  lower-case without spaces (US: the first five digits); country ISO 3166-1
  alpha-2 lower-case; year of birth four digits; gender `m` or `f`.
* `google` — Google Ads Customer Match data file (Help centre "Format your
  customer data file" and "Formatting guidelines for uploading hashed data"):
  columns `Email, Phone, First Name, Last Name, Country, Zip`. E-mail trimmed
  and lower-cased, dots before `@gmail.com` / `@googlemail.com` removed; phone
  in E.164 with its `+`; names lower-case, spaces trimmed; these four hashed.
  Country (ISO alpha-2) and Zip are sent in clear: Google says not to hash them.

A contact with neither e-mail nor phone cannot be matched on its own and is
left out. The city is the contact's `attributes.city`, when it has one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from typing import Any, Callable, Optional

META_HEADER = ("email", "phone", "fn", "ln", "ct", "zip", "country", "doby", "gen")
GOOGLE_HEADER = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
# The channel whose consent an ad-platform upload needs.
AD_CHANNEL = "social_ads"

_GENDERS = {"m": "m", "male": "m", "man": "m", "homme": "m", "h": "m",
            "f": "f", "female": "f", "woman": "f", "femme": "f"}
_GMAIL = ("gmail.com", "googlemail.com")


def sha256(value: Optional[str]) -> str:
    """Hex SHA-256 of a normalised value; "" stays "" (an empty cell, never
    the hash of nothing, which would match every empty value)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value else ""


def _text(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value)).strip() if value is not None else ""


def _without_punctuation(value: str) -> str:
    """Letters, marks and digits kept (any script, accents included); Unicode
    punctuation and symbols dropped."""
    return "".join(ch for ch in value if unicodedata.category(ch)[0] not in "PS")


# --- Meta ---------------------------------------------------------------------


def meta_email(raw: Any) -> str:
    return _text(raw).lower()


def meta_phone(raw: Any) -> str:
    """Digits only, country code included, no leading zeros (stored phones are
    E.164, so `+33 6…` becomes `336…`)."""
    return re.sub(r"\D", "", _text(raw)).lstrip("0")


def meta_name(raw: Any) -> str:
    return " ".join(_without_punctuation(_text(raw).lower()).split())


def meta_city(raw: Any) -> str:
    return "".join(_without_punctuation(_text(raw).lower()).split())


def meta_zip(raw: Any, country: Any) -> str:
    value = "".join(_text(raw).lower().split()).replace("-", "")
    if _text(country).upper() == "US":
        value = value[:5]
    return value


def meta_country(raw: Any) -> str:
    value = _text(raw).lower()
    return value if re.fullmatch(r"[a-z]{2}", value) else ""


def meta_year(raw: Any) -> str:
    value = _text(raw)
    return value if re.fullmatch(r"\d{4}", value) else ""


def meta_gender(raw: Any) -> str:
    return _GENDERS.get(_text(raw).lower(), "")


# --- Google -------------------------------------------------------------------


def google_email(raw: Any) -> str:
    value = _text(raw).lower()
    local, at, domain = value.rpartition("@")
    if at and domain in _GMAIL:
        value = f"{local.replace('.', '')}@{domain}"
    return value


def google_phone(raw: Any) -> str:
    """E.164: `+` and digits (stored phones already are)."""
    digits = re.sub(r"\D", "", _text(raw))
    return f"+{digits}" if digits else ""


def google_name(raw: Any) -> str:
    return " ".join(_text(raw).lower().split())


# --- rows -----------------------------------------------------------------------


def _city(attributes: Any) -> Any:
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return None
    city = attributes.get("city") if isinstance(attributes, dict) else None
    return city if isinstance(city, str) else None


def meta_row(row: Any) -> tuple[str, ...]:
    return tuple(sha256(value) for value in (
        meta_email(row["email"]), meta_phone(row["phone"]), meta_name(row["first_name"]),
        meta_name(row["last_name"]), meta_city(_city(row["attributes"])),
        meta_zip(row["postal_code"], row["country"]), meta_country(row["country"]),
        meta_year(row["birth_year"]), meta_gender(row["gender"]),
    ))


def google_row(row: Any) -> tuple[str, ...]:
    return (sha256(google_email(row["email"])), sha256(google_phone(row["phone"])),
            sha256(google_name(row["first_name"])), sha256(google_name(row["last_name"])),
            meta_country(row["country"]), _text(row["postal_code"]))


def _encoder(make_row: Callable[[Any], tuple[str, ...]]) -> Callable[..., tuple[bytes, int]]:
    def encode(rows: list[Any], links: Any = None) -> tuple[bytes, int]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        emitted = 0
        for row in rows:
            if row["email"] or row["phone"]:
                writer.writerow(make_row(row))
                emitted += 1
        return buffer.getvalue().encode(), emitted

    return encode


encode_meta = _encoder(meta_row)
encode_google = _encoder(google_row)
HEADERS = {"meta": META_HEADER, "google": GOOGLE_HEADER}
ENCODERS = {"meta": encode_meta, "google": encode_google}
