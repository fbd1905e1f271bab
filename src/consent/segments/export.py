"""Streaming an audience as CSV, NDJSON or hashed CSV, batch by batch, so memory
stays flat whatever the size: rows are read in keyset batches by contact id
inside the request's (read) transaction, encoded and handed on.

Each row gets `unsubscribe_url` and `preferences_url` with a signed token
(consent.tokens) for that contact, purpose and channel. `hashed_csv` carries
only SHA-256 hex digests of the normalised e-mail and the E.164 phone — the
form ad platforms' customer-list uploads take — so no clear address leaves.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import msgspec

from consent.segments.audience import EXPORT_COLUMNS, FIRST_ID
from consent.segments.compile import Sql
from consent.tokens import Signer
from optinbase import db

BATCH = 5_000
HEADER = (*EXPORT_COLUMNS, "consent_since", "unsubscribe_url", "preferences_url")
HASHED_HEADER = ("email_sha256", "phone_sha256")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "hashed_csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
}
_ATTRIBUTES = EXPORT_COLUMNS.index("attributes")


@dataclass
class Links:
    signer: Signer
    public_url: str

    def of(self, contact_id: Any) -> tuple[str, str]:
        token = self.signer.token(contact_id)
        return (f"{self.public_url}/p/unsubscribe/{token}",
                f"{self.public_url}/p/preferences/{token}")


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value if value is None or isinstance(value, (str, int)) else str(value)


def _attributes(value: Any) -> str:
    # Both drivers hand JSON columns over as text; keep it as it is.
    return value if isinstance(value, str) else msgspec.json.encode(value or {}).decode()


def _sha256(value: Any) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest() if value else ""


def encode_csv(rows: list[Any], links: Links) -> tuple[bytes, int]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        values = [_text(row[name]) for name in EXPORT_COLUMNS]
        values[_ATTRIBUTES] = _attributes(row["attributes"])
        writer.writerow([*values, _text(row["consent_since"]), *links.of(row["id"])])
    return buffer.getvalue().encode(), len(rows)


_ENCODER = msgspec.json.Encoder()


def encode_ndjson(rows: list[Any], links: Links) -> tuple[bytes, int]:
    items = []
    for row in rows:
        item = {name: _text(row[name]) for name in EXPORT_COLUMNS}
        item["attributes"] = msgspec.Raw(_attributes(row["attributes"]).encode())
        item["consent_since"] = _text(row["consent_since"])
        item["unsubscribe_url"], item["preferences_url"] = links.of(row["id"])
        items.append(item)
    return _ENCODER.encode_lines(items), len(items)


def encode_hashed(rows: list[Any], links: Links) -> tuple[bytes, int]:
    """Stored e-mails are already normalised (trimmed, lower-cased) and phones
    E.164; hashing re-trims and lower-cases so the digest never depends on it.
    A contact with neither is useless to an ad platform and is left out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    emitted = 0
    for row in rows:
        if row["email"] or row["phone"]:
            writer.writerow((_sha256(row["email"]), _sha256(row["phone"])))
            emitted += 1
    return buffer.getvalue().encode(), emitted


ENCODERS = {"csv": encode_csv, "ndjson": encode_ndjson, "hashed_csv": encode_hashed}


def _header(fmt: str) -> bytes:
    if fmt == "ndjson":
        return b""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(HASHED_HEADER if fmt == "hashed_csv" else HEADER)
    return buffer.getvalue().encode()


async def stream(
    query: Sql, fmt: str, links: Links, finished: Callable[[int, bool], Awaitable[None]],
    batch: int = BATCH,
) -> AsyncIterator[bytes]:
    """The export's bytes; `finished(rows, complete)` runs once at the end, also
    when the client goes away mid-stream (complete=False)."""
    encode = ENCODERS[fmt]
    rows, complete = 0, False
    try:
        header = _header(fmt)
        if header:
            yield header
        after = FIRST_ID
        while True:
            page = await db.fetch(query.text, *query.args, after, batch)
            if page:
                chunk, emitted = encode(page, links)
                rows += emitted
                if chunk:
                    yield chunk
            if len(page) < batch:
                break
            after = page[-1]["id"]
        complete = True
    finally:
        await finished(rows, complete)
