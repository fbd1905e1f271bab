"""API keys: `obk_<key id>_<secret>`, argon2id at rest, cached once verified.

The hot path must not pay an argon2 verify (~90 ms) per request. After one
successful verify the process keeps a MAC of the secret (keyed BLAKE2b) under a
per-process random key; a later request costs one MAC and a dict lookup. Each cached entry
is re-read from the database (not re-hashed) once it is older than the cache
lifetime, so a key revoked elsewhere stops within that lifetime; the revoking
process evicts it at once.

Failures (issue 13): an unknown, revoked or expired key id costs the same
argon2 verify as a wrong secret (against a dummy hash), so the answer's time
does not tell which ids exist; a failed (id, secret) pair is remembered for a
minute, whatever the reason, so repeating it costs nothing and says nothing;
a client address with too many failures (optinbase.limits.KEY_FAILURES,
shared by every process) is answered 429 before any argon2 work; and at most
`VERIFY_CONCURRENCY` verifies run at once per process, so a flood of fresh
guesses queues instead of taking every core.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
import uuid
from typing import Optional

import msgspec

from optinbase import limits
from optinbase.context import ALL_SCOPES
from optinbase.errors import Invalid, NotFound, TooManyRequests, Unauthorized
from tenants import envelope, passwords, repository
from tenants.passwords import hash_secret, verify_secret

PREFIX = "obk_"
VERIFY_CONCURRENCY = 2
_KEY_PATTERN = re.compile(r"^obk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def generate() -> tuple[str, str, str]:
    """(key id, secret, full key). The secret carries 256 bits of randomness."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}{key_id}_{secret}"


def parse(full_key: str) -> tuple[str, str]:
    match = _KEY_PATTERN.match(full_key)
    if not match:
        raise Unauthorized("The API key is malformed.")
    return match.group(1), match.group(2)


def validate_scopes(scopes: list[str] | None) -> list[str]:
    if not scopes:
        return sorted(ALL_SCOPES)
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown:
        raise Invalid(
            f"unknown scope(s): {', '.join(unknown)}",
            errors=[{"field": "scope", "message": f"unknown scope {s!r}"} for s in unknown],
        )
    return sorted(set(scopes))


class VerifiedKey(msgspec.Struct, frozen=True):
    key_id: str
    tenant_id: Optional[uuid.UUID]
    agency_id: Optional[uuid.UUID]
    scopes: frozenset[str]
    expires_at: Optional[dt.datetime]


class _Entry(msgspec.Struct):
    digest: bytes
    key: VerifiedKey
    checked_at: float


class _LockSlot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class KeyAuthenticator:
    def __init__(self, recheck_seconds: float = 30.0, clock=time.monotonic):
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._pepper = secrets.token_bytes(32)
        self._verified: dict[str, _Entry] = {}
        # Recently failed (key id, digest) pairs, known id or not: a guessing
        # loop costs one argon2 verify per distinct guess, not per request.
        self._failed: dict[tuple[str, bytes], float] = {}
        self._locks: dict[str, _LockSlot] = {}
        self._verifying = asyncio.Semaphore(VERIFY_CONCURRENCY)

    def _digest(self, secret: str) -> bytes:
        # Keyed BLAKE2b: a MAC, and about ten times cheaper than OpenSSL's
        # HMAC set-up on every request. Never stored: only compared in this process.
        return hashlib.blake2b(secret.encode(), key=self._pepper, digest_size=32).digest()

    def evict(self, key_id: str) -> None:
        self._verified.pop(key_id, None)

    def cached(self, key_id: str, secret: str) -> Optional[VerifiedKey]:
        """The cached path: microseconds, no I/O. None means ask `authenticate`."""
        entry = self._verified.get(key_id)
        if entry is None or not hmac.compare_digest(entry.digest, self._digest(secret)):
            return None
        if self._clock() - entry.checked_at >= self.recheck_seconds:
            return None
        expires = entry.key.expires_at
        if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
            self.evict(key_id)
            return None
        return entry.key

    async def authenticate(self, full_key: str, client: Optional[str] = None) -> VerifiedKey:
        """The key's record; `client` is the caller's address (api.clients),
        whose failures are limited."""
        key_id, secret = parse(full_key)
        hit = self.cached(key_id, secret)
        if hit is not None:
            return hit
        if self._failed.get((key_id, self._digest(secret)), 0) > self._clock():
            raise Unauthorized("The API key is not valid.")
        if await limits.spent(limits.KEY_FAILURES, client):
            refused = TooManyRequests("Too many invalid API keys from this address; try again"
                                      " later.")
            refused.retry_after = limits.KEY_FAILURES.retry_after()
            raise refused
        # One load per key id at a time; concurrent callers reuse its result.
        # The lock lives only while someone holds or awaits it.
        slot = self._locks.setdefault(key_id, _LockSlot())
        slot.users += 1
        try:
            async with slot.lock:
                hit = self.cached(key_id, secret)
                if hit is not None:
                    return hit
                return await self._load(key_id, secret)
        except Unauthorized:
            await limits.spend(limits.KEY_FAILURES, client)
            raise
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._locks.pop(key_id, None)

    async def _verify(self, stored_hash: Optional[str], secret: str) -> bool:
        """One argon2 verify, against the dummy hash when there is no usable
        key: the same work whether the id exists or not."""
        async with self._verifying:
            if stored_hash is None:
                dummy = await asyncio.to_thread(passwords.dummy_hash)
                await asyncio.to_thread(verify_secret, dummy, secret)
                return False
            return await asyncio.to_thread(verify_secret, stored_hash, secret)

    def _fail(self, key_id: str, digest: bytes, now: float) -> Unauthorized:
        if len(self._failed) > 10_000:
            self._failed.clear()
        self._failed[(key_id, digest)] = now + 60
        return Unauthorized("The API key is not valid.")

    async def _load(self, key_id: str, secret: str) -> VerifiedKey:
        digest = self._digest(secret)
        now = self._clock()
        entry = self._verified.get(key_id)
        wall_now = dt.datetime.now(dt.timezone.utc)
        async with envelope.key_lookup(key_id):
            record = await repository.key_by_key_id(key_id, touch=wall_now)
        usable = record is not None and record.revoked_at is None and (
            record.expires_at is None or record.expires_at > wall_now
        ) and (record.tenant_id is None) != (record.agency_id is None)  # exactly one owner
        if not usable:
            self.evict(key_id)
            await self._verify(None, secret)
            raise self._fail(key_id, digest, now)
        if entry is None or not hmac.compare_digest(entry.digest, digest):
            if not await self._verify(record.secret_hash, secret):
                raise self._fail(key_id, digest, now)
        verified = VerifiedKey(
            key_id=record.key_id,
            tenant_id=record.tenant_id,
            agency_id=record.agency_id,
            scopes=frozenset(record.scopes),
            expires_at=record.expires_at,
        )
        self._verified[key_id] = _Entry(digest=digest, key=verified, checked_at=now)
        return verified


async def create_key(
    *,
    tenant_id: Optional[uuid.UUID],
    agency_id: Optional[uuid.UUID],
    name: str,
    scopes: list[str] | None,
    expires_at: Optional[dt.datetime],
) -> str:
    """Stores a new key and returns the full key, which is never stored."""
    key_id, secret, full = generate()
    record = repository.KeyRecord(
        id=uuid.uuid4(),
        key_id=key_id,
        tenant_id=tenant_id,
        agency_id=agency_id,
        name=name,
        secret_hash=await asyncio.to_thread(hash_secret, secret),
        scopes=validate_scopes(scopes),
        created_at=dt.datetime.now(dt.timezone.utc),
        expires_at=expires_at,
        revoked_at=None,
    )
    await repository.insert_key(record)
    return full


async def revoke_key(key_id: str, authenticator: Optional[KeyAuthenticator] = None) -> None:
    if not re.fullmatch(r"[0-9a-f]{16}", key_id):
        raise NotFound(f"no API key {key_id!r}")
    async with envelope.key_lookup(key_id):
        revoked = await repository.revoke_key(key_id, dt.datetime.now(dt.timezone.utc))
    if not revoked:
        raise NotFound(f"no API key {key_id!r}")
    if authenticator is not None:
        authenticator.evict(key_id)
