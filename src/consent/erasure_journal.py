"""The erasure journal: every erasure, recorded outside the database, so that
restoring a backup taken before it cannot bring the person back
(`optinbase erasures reapply`, `consent.reapply`).

One JSON line per erasure, appended and fsync'd to
`ERASURE_JOURNAL_DIR/<tenant id>.jsonl` (one file per tenant, like the ledger's
checkpoint log: a tenant's journal can be handed over or archived alone). A
line holds no clear personal data:

* `contact_id` — the erased contact (None: an erasure request for an address
  the base never held);
* `identifiers` — per erased identifier (`email`, `phone`): `hash`, the
  suppression list's keyed hash (HMAC under the tenant's secret: what the
  `suppression` table and `contact.email_hash` hold, so a restored database
  can be matched and suppressed without the address), and `journal_hash`, an
  HMAC under a key derived from `SECRET_KEY` (never stored in the database):
  whoever holds the server's secret — and only they — can tell whether an
  address was erased even without the database;
* `suppress` — whether the person was suppressed (retention purges are not:
  they did not object, and may come back);
* `at` — when.

The line is written inside the erasure's transaction, before it commits: an
erasure that commits is always journalled (the reverse order could lose one to
a crash between commit and append). An erasure whose transaction then fails is
journalled all the same; `reapply` carries it out — the person's erasure was
asked for, and a journal line never restores anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import uuid
from pathlib import Path
from typing import Iterator, Optional

import msgspec

from optinbase.appendfile import append_line, read_lines
from optinbase.settings import get_settings

FORMAT = "optinbase-erasure/v1"


class Identifier(msgspec.Struct, forbid_unknown_fields=True):
    kind: str  # "email" | "phone"
    hash: str  # suppression hash (HMAC-SHA256 under the tenant secret)
    journal_hash: str  # HMAC-SHA256 under a key derived from SECRET_KEY


class Entry(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    tenant_id: str
    contact_id: Optional[str]
    at: str
    suppress: bool
    identifiers: list[Identifier]


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Entry)


def directory() -> Path:
    return Path(get_settings().erasure_journal_dir).absolute()


def path_for(tenant_id: uuid.UUID) -> Path:
    return directory() / f"{tenant_id}.jsonl"


def _journal_key() -> bytes:
    """A key of its own, derived from SECRET_KEY (HMAC as the derivation, one
    label): the journal's hashes match nothing else the server computes."""
    return hmac.digest(get_settings().secret_key.encode(), b"optinbase erasure journal v1",
                       "sha256")


def journal_hash(tenant_id: uuid.UUID, kind: str, normalised: str) -> str:
    """The journal's keyed hash of a normalised e-mail or E.164 phone of a tenant."""
    message = f"{tenant_id}\0{kind}\0{normalised}".encode()
    return hmac.digest(_journal_key(), message, "sha256").hex()


def identifiers_of(tenant_id: uuid.UUID, values: dict[str, Optional[str]],
                   hashes: dict[str, Optional[str]]) -> list[Identifier]:
    """`values`: kind → normalised value; `hashes`: kind → its suppression hash."""
    return [Identifier(kind=kind, hash=hashes[kind] or "",
                       journal_hash=journal_hash(tenant_id, kind, value))
            for kind, value in sorted(values.items()) if value and hashes.get(kind)]


async def record(tenant_id: uuid.UUID, contact_id: Optional[uuid.UUID],
                 identifiers: list[Identifier], *, suppress: bool) -> Entry:
    """Appends one erasure to the tenant's journal (fsync'd) and returns it."""
    entry = Entry(format=FORMAT, tenant_id=str(tenant_id),
                  contact_id=None if contact_id is None else str(contact_id),
                  at=dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
                  suppress=suppress, identifiers=identifiers)
    await asyncio.to_thread(append_line, path_for(tenant_id), _ENCODER.encode(entry))
    return entry


def entries(tenant_id: uuid.UUID) -> Iterator[Entry]:
    """The tenant's journalled erasures, oldest first; a torn or foreign line
    (another tenant's, a partial write) is skipped."""
    for line in read_lines(path_for(tenant_id)):
        try:
            entry = _DECODER.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if entry.format == FORMAT and entry.tenant_id == str(tenant_id):
            yield entry


def was_erased(tenant_id: uuid.UUID, kind: str, normalised: str) -> bool:
    """Whether the journal records an erasure of this identifier (no database needed)."""
    wanted = journal_hash(tenant_id, kind, normalised)
    return any(hmac.compare_digest(i.journal_hash, wanted)
               for e in entries(tenant_id) for i in e.identifiers if i.kind == kind)

