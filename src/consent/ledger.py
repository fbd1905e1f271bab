"""The consent ledger: an append-only, per-tenant hash chain.

Each event's hash covers its non-personal fields, a digest of its personal
fields, and the previous event's hash. Personal fields (contact id, IP, user
agent) are digested together with a random per-event salt that is itself
personal: erasure blanks all four, the stored digest stays, the chain still
verifies, and nothing left in the row can be brute-forced back to an IP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from typing import Any, Optional

import msgspec

from optinbase import db

GENESIS = "0" * 64
_UTC = dt.timezone.utc


def canonical_time(value: dt.datetime) -> str:
    return value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return canonical_time(value)
    return str(value)


def personal_digest(salt: str, contact_id: Any, ip: Any, user_agent: Any) -> str:
    payload = json.dumps([salt, _text(contact_id), _text(ip), _text(user_agent)])
    return hashlib.sha256(payload.encode()).hexdigest()


HASHED_FIELDS = (
    "id", "tenant_id", "seq", "channel", "purpose_id", "action", "notice_id", "method",
    "source", "collected_at", "recorded_at", "actor", "personal_digest", "prev_hash",
)


def event_hash(event: Any) -> str:
    payload = json.dumps([_text(event[name]) for name in HASHED_FIELDS], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class NewEvent(msgspec.Struct):
    """What a caller decides; the ledger fills in seq, digests and hashes."""

    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    purpose_id: uuid.UUID
    action: str
    method: str
    collected_at: dt.datetime
    recorded_at: dt.datetime
    notice_id: Optional[uuid.UUID] = None
    source: Optional[str] = None
    actor: Optional[str] = None
    ip: Optional[str] = None
    user_agent: Optional[str] = None


_INSERT_EVENT = (
    "INSERT INTO consent_event (id, tenant_id, seq, contact_id, channel, purpose_id, action,"
    " notice_id, method, source, collected_at, recorded_at, actor, ip, user_agent, pii_salt,"
    " personal_digest, prev_hash, hash)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)


async def _lock_head(tenant_id: uuid.UUID) -> tuple[int, str]:
    """The chain head, locked until the transaction ends (PostgreSQL row lock;
    SQLite write transactions are already exclusive)."""
    lock = " FOR UPDATE" if db.is_postgres() else ""
    query = "SELECT seq, hash FROM ledger_head WHERE tenant_id = {}" + lock
    row = await db.fetchrow(query, tenant_id)
    if row is None:
        await db.execute(
            "INSERT INTO ledger_head (id, tenant_id, seq, hash) VALUES ({}, {}, 0, {})"
            " ON CONFLICT (tenant_id) DO NOTHING",
            uuid.uuid4(), tenant_id, GENESIS,
        )
        row = await db.fetchrow(query, tenant_id)
    return int(row["seq"]), row["hash"]


async def append(events: list[NewEvent]) -> list[dict[str, Any]]:
    """Append events of one tenant, in order, inside the caller's transaction."""
    if not events:
        return []
    tenant_id = events[0].tenant_id
    db.require_tenant(tenant_id)
    seq, prev = await _lock_head(tenant_id)
    stored = []
    for new in events:
        if new.tenant_id != tenant_id:
            raise ValueError("one append, one tenant")
        seq += 1
        salt = secrets.token_hex(16)
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "seq": seq,
            "contact_id": new.contact_id,
            "channel": new.channel,
            "purpose_id": new.purpose_id,
            "action": new.action,
            "notice_id": new.notice_id,
            "method": new.method,
            "source": new.source,
            "collected_at": new.collected_at,
            "recorded_at": new.recorded_at,
            "actor": new.actor,
            "ip": new.ip,
            "user_agent": new.user_agent,
            "pii_salt": salt,
            "personal_digest": personal_digest(salt, new.contact_id, new.ip, new.user_agent),
            "prev_hash": prev,
        }
        row["hash"] = prev = event_hash(row)
        stored.append(row)
    # One pipelined statement for the whole batch (imports append thousands).
    await db.executemany(
        _INSERT_EVENT,
        [
            (
                row["id"], tenant_id, row["seq"], row["contact_id"], row["channel"],
                row["purpose_id"], row["action"], row["notice_id"], row["method"],
                row["source"], row["collected_at"], row["recorded_at"], row["actor"],
                row["ip"], row["user_agent"], row["pii_salt"], row["personal_digest"],
                row["prev_hash"], row["hash"],
            )
            for row in stored
        ],
    )
    await db.execute(
        "UPDATE ledger_head SET seq = {}, hash = {} WHERE tenant_id = {}", seq, prev, tenant_id
    )
    return stored


class VerifyResult(msgspec.Struct):
    ok: bool
    events: int
    first_broken_event: Optional[str] = None
    reason: Optional[str] = None


_VERIFY_BATCH = 5000


async def verify(tenant_id: uuid.UUID) -> VerifyResult:
    """Walks the tenant's chain in seq order, in batches, and names the first
    broken event.

    An event whose own digest or hash does not match its fields is certainly
    the altered one, so it is named before any broken link (a renumbered or
    deleted event also breaks the link of the event after it).
    """
    db.require_tenant(tenant_id)
    after_seq, expected_seq, prev, count = 0, 1, GENESIS, 0
    first_altered: Optional[tuple[str, str]] = None
    first_unlinked: Optional[tuple[str, str]] = None
    while True:
        rows = await db.fetch(
            "SELECT id, tenant_id, seq, contact_id, channel, purpose_id, action, notice_id,"
            " method, source, collected_at, recorded_at, actor, ip, user_agent, pii_salt,"
            " personal_digest, prev_hash, hash FROM consent_event"
            " WHERE tenant_id = {} AND seq > {} ORDER BY seq LIMIT {}",
            tenant_id, after_seq, _VERIFY_BATCH,
        )
        for row in rows:
            count += 1
            after_seq = int(row["seq"])
            if first_altered is None:
                if row["pii_salt"] is not None and row["personal_digest"] != personal_digest(
                    row["pii_salt"], row["contact_id"], row["ip"], row["user_agent"]
                ):
                    first_altered = (str(row["id"]), "personal fields altered")
                elif event_hash(row) != row["hash"]:
                    first_altered = (str(row["id"]), "event fields altered (hash mismatch)")
            if first_unlinked is None:
                if after_seq != expected_seq:
                    first_unlinked = (
                        str(row["id"]),
                        f"sequence gap: expected event {expected_seq}, found {after_seq}",
                    )
                elif row["prev_hash"] != prev:
                    first_unlinked = (str(row["id"]), "previous-hash link broken")
            prev = row["hash"]
            expected_seq = after_seq + 1
        if len(rows) < _VERIFY_BATCH:
            break
    broken = first_altered or first_unlinked
    if broken:
        return VerifyResult(False, count, broken[0], broken[1])
    head = await db.fetchrow(
        "SELECT seq, hash FROM ledger_head WHERE tenant_id = {}", tenant_id
    )
    head_seq, head_hash = (int(head["seq"]), head["hash"]) if head else (0, GENESIS)
    if head_seq != expected_seq - 1 or head_hash != prev:
        return VerifyResult(
            False, count, None,
            f"chain head records event {head_seq} but the ledger ends at {expected_seq - 1}",
        )
    return VerifyResult(True, count)
