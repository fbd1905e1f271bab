"""Streaming an audience as CSV, NDJSON or hashed CSV so memory stays flat
whatever the size, inside the request's (read) transaction:

* CSV on PostgreSQL (`copy_stream`): PostgreSQL writes the whole file itself
  (COPY … TO STDOUT, links computed in SQL); its pieces pass through a small
  bounded queue to the response, and a slow client holds the COPY back.
* otherwise (`stream`): rows are read in keyset batches by contact id, encoded
  here and handed on.

Each row gets `unsubscribe_url` and `preferences_url` with a signed token
(consent.tokens) for that contact, purpose and channel. `hashed_csv` carries
only SHA-256 hex digests of the normalised e-mail and the E.164 phone;
`meta` and `google` are the ad platforms' own customer-list files
(segments.platforms) — no clear address leaves for an ad platform.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import msgspec

from consent.segments import platforms
from consent.segments.audience import EXPORT_COLUMNS, FIRST_ID, TEXT_COLUMNS, batch_args
from consent.segments.compile import Sql
from consent.tokens import Signer
from optinbase import db, spreadsheet

BATCH = 5_000
# `tracking_allowed` last: the columns before it keep their places.
HEADER = (*EXPORT_COLUMNS, "consent_since", "unsubscribe_url", "preferences_url",
          "tracking_allowed")
HASHED_HEADER = ("email_sha256", "phone_sha256")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "hashed_csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "meta": "text/csv; charset=utf-8",
    "google": "text/csv; charset=utf-8",
}
_ATTRIBUTES = EXPORT_COLUMNS.index("attributes")


@dataclass
class Links:
    signer: Signer
    public_url: str

    def of(self, contact_id: str) -> tuple[str, str]:
        token = self.signer.token(contact_id)
        return (f"{self.public_url}/p/unsubscribe/{token}",
                f"{self.public_url}/p/preferences/{token}")


# The export query's column order.
_SELECTED = (*EXPORT_COLUMNS, "consent_since", "tracking_allowed")
_TIMES = tuple(_SELECTED.index(n) for n in ("created_at", "last_activity_at", "consent_since"))
_TEXTS = tuple(_SELECTED.index(n) for n in TEXT_COLUMNS)


def _cells(row: Any) -> list[Any]:
    """The row's values in select order (asyncpg Record or sqlite dict). Rows
    are handled positionally: per-name lookups cost more than the rest of the
    encoding on a million rows."""
    cells = list(row.values()) if isinstance(row, dict) else list(row)
    cells[0] = str(cells[0])
    attributes = cells[_ATTRIBUTES]
    if not isinstance(attributes, str):  # both drivers hand JSON over as text
        cells[_ATTRIBUTES] = msgspec.json.encode(attributes or {}).decode()
    return cells


def _sha256(value: Any) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest() if value else ""


def encode_csv(rows: list[Any], links: Links) -> tuple[bytes, int]:
    buffer = io.StringIO()
    lines = []
    for row in rows:
        cells = _cells(row)
        for index in _TIMES:
            if cells[index] is not None:
                cells[index] = cells[index].isoformat()
        for index in _TEXTS:
            cells[index] = spreadsheet.cell(cells[index])
        tracked = cells.pop()
        cells.extend(links.of(cells[0]))
        cells.append(tracked)
        lines.append(cells)
    csv.writer(buffer).writerows(lines)  # csv writes None as "" and str()s the rest
    return buffer.getvalue().encode(), len(rows)


_ENCODER = msgspec.json.Encoder()


def encode_ndjson(rows: list[Any], links: Links) -> tuple[bytes, int]:
    items = []
    for row in rows:
        cells = _cells(row)
        cells[_ATTRIBUTES] = msgspec.Raw(cells[_ATTRIBUTES].encode())
        item = dict(zip(_SELECTED, cells))
        item["tracking_allowed"] = item["tracking_allowed"] == "true"
        item["unsubscribe_url"], item["preferences_url"] = links.of(cells[0])
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


ENCODERS = {"csv": encode_csv, "ndjson": encode_ndjson, "hashed_csv": encode_hashed,
            **platforms.ENCODERS}
HEADERS = {"csv": HEADER, "hashed_csv": HASHED_HEADER, **platforms.HEADERS}


def _header(fmt: str) -> bytes:
    if fmt == "ndjson":
        return b""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(HEADERS[fmt])
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
            page = await db.fetch_undecoded(query.text, *query.args, *batch_args(after, batch))
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


# Pieces in flight between the COPY and the response (asyncpg hands over what
# one socket read brought, tens of KB): memory stays at a few MB.
QUEUE_PIECES = 16
# For the export's transaction: times come out as isoformat writes them (see
# audience.export_copy_query); the join's hash table fits in memory.
COPY_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO", "work_mem": "64MB"}


async def copy_stream(
    query: Sql, signer: Signer, finished: Callable[[int, bool], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """The CSV export made by PostgreSQL (header included); `finished(rows,
    complete)` as in `stream`. Rows of a cut-short export are the lines sent."""
    queue: asyncio.Queue[bytearray | None] = asyncio.Queue(QUEUE_PIECES)
    rows, complete, sent_lines = 0, False, 0

    async def produce() -> int:
        try:
            return await db.copy_out(query.text, query.args, queue.put, format="csv", header=True)
        finally:
            await queue.put(None)

    await db.set_local({**COPY_SETTINGS, **signer.sql_settings()})
    copying = asyncio.ensure_future(produce())
    try:
        while (piece := await queue.get()) is not None:
            sent_lines += piece.count(b"\n")
            yield bytes(piece)  # asyncpg hands over bytearrays; ASGI wants bytes
        rows, complete = await copying, True
    finally:
        if not complete:
            copying.cancel()
            try:
                await copying
            except BaseException:  # cancelled, or the COPY's own failure
                pass
            rows = max(sent_lines - 1, 0)  # the header is a line
        await finished(rows, complete)
