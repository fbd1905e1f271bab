"""The suppression list: people who must not be contacted on a channel (or at all)
and must not come back through an import.

Only keyed hashes are stored: HMAC-SHA256 of the normalised e-mail or E.164
phone, keyed with the tenant's random secret (`tenant.secret`), so the list
survives erasure without holding the address, and one tenant's list says
nothing about another's.

Count and export must drop suppressed contacts. SQL cannot compute the HMAC
portably, and hashing every contact in Python at export time would cost ~2 µs a
row, so each contact carries the same hashes of its own identifiers
(`contact.email_hash`, `contact.phone_hash`, written by contacts and imports).
`exclusion_sql` is then a plain anti-join on the small suppression table, which
PostgreSQL runs as a hash anti-join over a 1M-contact segment.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from typing import Any, Optional

from consent import changes
from consent.schemas import SuppressionCheckOut, SuppressionIn, SuppressionOut
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import Invalid, NotFound
from optinbase.normalise import normalise_email, normalise_phone
from tenants import repository

ALL = "all"

# Tenant secrets never change, so a process keeps them once read.
_keys: dict[uuid.UUID, bytes] = {}


async def tenant_key(tenant_id: uuid.UUID) -> bytes:
    key = _keys.get(tenant_id)
    if key is None:
        secret = await repository.tenant_secret(tenant_id)
        if not secret:
            raise NotFound("tenant not found")
        key = _keys[tenant_id] = secret.encode()
    return key


def identifier_hash(key: bytes, normalised: str) -> str:
    """HMAC-SHA256 (hex) of an already normalised e-mail or E.164 phone.
    An import hashes a million addresses: the key's two padded blocks are
    hashed once (`_pads`) and each address costs two copies, two updates and
    two finishes (RFC 2104's construction, as the hmac module's own Python
    HMAC does it) — 0.6 µs here against 1.35 µs for OpenSSL's one-shot
    hmac.digest, which pads and hashes the key again every call."""
    inner, outer = _pads(key)
    inner = inner.copy()
    inner.update(normalised.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


_INNER_PAD = bytes(b ^ 0x36 for b in range(256))
_OUTER_PAD = bytes(b ^ 0x5C for b in range(256))


@functools.lru_cache(maxsize=256)  # a tenant's key, once per process
def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states having absorbed the key XOR ipad and XOR opad (one
    64-byte block each; a longer key is hashed first)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return hashlib.sha256(block.translate(_INNER_PAD)), hashlib.sha256(block.translate(_OUTER_PAD))


def hashes_of(key: bytes, email: Optional[str], phone: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(email_hash, phone_hash) of normalised identifiers; None stays None."""
    return (
        identifier_hash(key, email) if email else None,
        identifier_hash(key, phone) if phone else None,
    )


async def contact_hashes(
    ctx: TenantContext, email: Optional[str], phone: Optional[str]
) -> tuple[Optional[str], Optional[str]]:
    return hashes_of(await tenant_key(ctx.tenant_id), email, phone)


def _identifier(ctx: TenantContext, email: Optional[str], phone: Optional[str]) -> tuple[str, str]:
    """(kind, normalised value) of exactly one given identifier."""
    given = [(k, v) for k, v in (("email", email), ("phone", phone)) if v is not None]
    if len(given) != 1:
        raise Invalid(
            "give exactly one of email or phone",
            errors=[{"field": "email", "message": "exactly one of email or phone is required"}],
        )
    kind, value = given[0]
    if kind == "email":
        return kind, normalise_email(value)
    return kind, normalise_phone(value, ctx.country)


async def digest_of(
    ctx: TenantContext, email: Optional[str], phone: Optional[str]
) -> tuple[str, str]:
    """(kind, keyed hash) of exactly one given identifier, as the list stores it."""
    kind, value = _identifier(ctx, email, phone)
    return kind, identifier_hash(await tenant_key(ctx.tenant_id), value)


_INSERT = (
    "INSERT INTO suppression (id, tenant_id, identifier_hash, kind, channel, reason, created_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {})"
    " ON CONFLICT (tenant_id, identifier_hash, channel) DO NOTHING"
)
_SELECT_ONE = (
    "SELECT id, kind, channel, reason, created_at FROM suppression"
    " WHERE tenant_id = {} AND identifier_hash = {} AND channel = {}"
)
_CHANNELS_OF = (
    "SELECT channel FROM suppression WHERE tenant_id = {} AND identifier_hash = {}"
    " ORDER BY channel"
)
# Suppressed on `channel` if either identifier is listed for it or for all.
_ANY_OF = (
    "SELECT 1 FROM suppression WHERE tenant_id = {} AND identifier_hash IN ({}, {})"
    " AND channel IN ({}, 'all') LIMIT 1"
)


async def add(ctx: TenantContext, data: SuppressionIn) -> SuppressionOut:
    """Idempotent: listing a person again for the same channel returns the entry."""
    db.require_tenant(ctx.tenant_id)
    kind, value = _identifier(ctx, data.email, data.phone)
    digest = identifier_hash(await tenant_key(ctx.tenant_id), value)
    new_id, now = uuid.uuid4(), dt.datetime.now(dt.timezone.utc)
    inserted = await db.fetchval(
        _INSERT + " RETURNING id", new_id, ctx.tenant_id, digest, kind, data.channel,
        data.reason, now,
    )
    row: Any = {"id": new_id, "kind": kind, "channel": data.channel, "reason": data.reason,
                "created_at": now}
    if inserted is None:  # listed before: the entry as it is
        row = await db.fetchrow(_SELECT_ONE, ctx.tenant_id, digest, data.channel)
    await audit.record(
        ctx, "suppression.added", "suppression", row["id"],
        {"kind": kind, "channel": data.channel, "reason": data.reason},
    )
    if inserted is not None:  # listed now, not before: a change of the feed (last:
        # numbering it takes the tenant's change lock, held until commit)
        contact_id = await db.fetchval(
            f"SELECT id FROM contact WHERE tenant_id = {{}} AND {kind} = {{}}", ctx.tenant_id, value)
        await changes.record(ctx, [changes.Change(
            kind="suppression", at=now, contact_id=contact_id,
            channel=data.channel, reason=data.reason)])
    return SuppressionOut(
        id=row["id"], kind=row["kind"], channel=row["channel"],
        reason=row["reason"], created_at=row["created_at"],
    )


async def which_are_listed(ctx: TenantContext, asked: dict[int, tuple[str, str]]) -> set[int]:
    """Of `asked` (key -> (normalised e-mail or phone, channel)), the keys
    whose identifier is listed for that channel or for all (`is_suppressed`
    for many at once): the batch consent check of people not in the base
    (erased, or never added) still says they are suppressed. One statement,
    however many are asked."""
    if not asked:
        return set()
    key = await tenant_key(ctx.tenant_id)
    digests = {index: identifier_hash(key, value) for index, (value, _) in asked.items()}
    unique = sorted(set(digests.values()))
    rows = await db.fetch(
        "SELECT identifier_hash, channel FROM suppression WHERE tenant_id = {}"
        f" AND identifier_hash IN ({', '.join(['{}'] * len(unique))})", ctx.tenant_id, *unique)
    listed: dict[str, set[str]] = {}
    for row in rows:
        listed.setdefault(row["identifier_hash"], set()).add(row["channel"])
    return {index for index, digest in digests.items()
            if listed_for(listed, [digest], asked[index][1])}


async def check(
    ctx: TenantContext, email: Optional[str], phone: Optional[str]
) -> SuppressionCheckOut:
    db.require_tenant(ctx.tenant_id)
    _, value = _identifier(ctx, email, phone)
    digest = identifier_hash(await tenant_key(ctx.tenant_id), value)
    rows = await db.fetch(_CHANNELS_OF, ctx.tenant_id, digest)
    channels = [r["channel"] for r in rows]
    return SuppressionCheckOut(suppressed=bool(channels), channels=channels)


async def is_suppressed(
    ctx: TenantContext, email: Optional[str], phone: Optional[str], channel: str
) -> bool:
    """Whether a person with these normalised identifiers is listed for
    `channel` (or for all channels)."""
    db.require_tenant(ctx.tenant_id)
    email_hash, phone_hash = await contact_hashes(ctx, email, phone)
    if email_hash is None and phone_hash is None:
        return False
    row = await db.fetchrow(_ANY_OF, ctx.tenant_id, email_hash, phone_hash, channel)
    return row is not None


async def suppressed_channels(ctx: TenantContext) -> dict[str, set[str]]:
    """The tenant's whole list as {hash: {channels}}, for imports (one read)."""
    rows = await db.fetch(
        "SELECT identifier_hash, channel FROM suppression WHERE tenant_id = {}", ctx.tenant_id
    )
    listed: dict[str, set[str]] = {}
    for row in rows:
        listed.setdefault(row["identifier_hash"], set()).add(row["channel"])
    return listed


def exclusion_sql(alias: str = "c") -> str:
    """Hook for segment count and export: a condition, true when contact `alias`
    is NOT suppressed for the channel bound to its `{}` placeholders.

    Takes TWO arguments, both the channel: `args += [channel, channel]`.
    `alias` is a table alias chosen by the caller, never user input. One
    NOT EXISTS per identifier (rather than `IN (email_hash, phone_hash)`) so
    each becomes a hash anti-join on PostgreSQL.
    """
    if not alias.isidentifier():
        raise ValueError("alias must be an SQL identifier")
    return " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM suppression sup_{column}"
        f" WHERE sup_{column}.tenant_id = {alias}.tenant_id"
        f" AND sup_{column}.identifier_hash = {alias}.{column}"
        f" AND sup_{column}.channel IN ({{}}, 'all'))"
        for column in ("email_hash", "phone_hash")
    )


def listed_for(listed: dict[str, set[str]], hashes: Any, channel: Optional[str]) -> bool:
    """In-memory twin of `_ANY_OF` over `suppressed_channels()`; channel None
    asks about the `all` entry only."""
    for digest in hashes:
        channels = listed.get(digest) if digest else None
        if channels and (ALL in channels or (channel is not None and channel in channels)):
            return True
    return False
