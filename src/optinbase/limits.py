"""Rate limits shared by every process and host: in the database (table
`rate_limit`, tenant-free), or in Redis when `REDIS_URL` is set.

A limit counts hits of a subject (a client address, an account, a target
e-mail address) in a window that opens with its first hit and lasts `window`
seconds; the hit that reaches the limit locks the subject out for `lock`
seconds from then (default: one window): `spend` counts one and says whether it is
still within the limit, `spent` only looks (for limits that count failures,
checked before the work and spent after it fails). Subjects are stored as an
HMAC under a key derived from SECRET_KEY for this use (`keyring`), so the
table holds no address, e-mail or account name, and a stored key cannot be
reversed by hashing guesses without the secret.

Inside a tenant transaction the database counter joins it: a request that
ends in an error answer rolls its hit back with everything else (a refused
subscription sends no mail, so it needs no counting), and one that commits
keeps it. Outside one (the key resolver, the admin login) each hit commits
at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Optional

import redis.asyncio as redis_asyncio

from optinbase import db, keyring
from optinbase.settings import get_settings


@dataclass(frozen=True)
class Limit:
    bucket: str
    limit: int
    window: int  # seconds
    lock: int = 0  # seconds locked once the limit is reached; 0: one window

    @property
    def lock_seconds(self) -> int:
        return self.lock or self.window

    def retry_after(self) -> int:
        """An upper bound of the seconds until the subject may try again."""
        return max(self.window, self.lock_seconds)


# Public forms: per client address, and per target e-mail address (hashed).
SUBSCRIBE = Limit("subscribe.address", 10, 600)
REQUEST_FORM = Limit("requests.address", 5, 600)
MAIL_TARGET = Limit("mail.target", 3, 3600)
# API key verifications that failed, per client address.
KEY_FAILURES = Limit("keys.failures", 20, 300)

_namespace = ""
_redis: Any = None
_sweep_every, _hits_since_sweep = 500, 0


def forget() -> None:
    """Every count starts afresh (tests: each gets the limits a new
    deployment would have). Counts stay stored, under a name nobody reads."""
    global _namespace
    _namespace = secrets.token_hex(4)


def _key(limit: Limit, subject: str) -> str:
    digest = hmac.new(keyring.derive(get_settings().secret_key, "limits"),
                      f"{_namespace}\0{limit.bucket}\0{subject}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"{limit.bucket}:{digest}"


def _redis_client() -> Any:
    global _redis
    url = get_settings().redis_url
    if not url:
        return None
    if _redis is None:
        _redis = redis_asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _redis


# One statement: a counter whose window has ended starts again at 1; the hit
# that reaches the limit moves the end to now + lock.
_SPEND = (
    "INSERT INTO rate_limit (key, hits, expires_at) VALUES ({}, 1, {})"
    " ON CONFLICT (key) DO UPDATE SET"
    " hits = CASE WHEN rate_limit.expires_at < {} THEN 1 ELSE rate_limit.hits + 1 END,"
    " expires_at = CASE WHEN rate_limit.expires_at < {} THEN excluded.expires_at"
    " WHEN rate_limit.hits + 1 = {} THEN {} ELSE rate_limit.expires_at END"
    " RETURNING hits"
)


async def spend(limit: Limit, subject: Optional[str]) -> bool:
    """Count a hit of `subject`; True while it is within `limit`."""
    now = time.time()
    key = _key(limit, subject or "?")
    client = _redis_client()
    if client is not None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=limit.window, nx=True)  # the window opens with the first hit
            pipe.incr(key)
            _, hits = await pipe.execute()
        if int(hits) == limit.limit:
            await client.expire(key, limit.lock_seconds)
        return int(hits) <= limit.limit
    hits = await db.fetchval(_SPEND, key, now + limit.window, now, now, limit.limit,
                             now + limit.lock_seconds)
    await _sweep(now)
    return int(hits) <= limit.limit


async def spent(limit: Limit, subject: Optional[str]) -> bool:
    """Whether `subject` has used up `limit` in this window (counts nothing)."""
    key = _key(limit, subject or "?")
    client = _redis_client()
    if client is not None:
        hits = await client.get(key)
    else:
        hits = await db.fetchval("SELECT hits FROM rate_limit WHERE key = {} AND expires_at >= {}",
                                 key, time.time())
    return int(hits or 0) >= limit.limit


async def _sweep(now: float) -> None:
    """Now and then, drop counters whose window has ended."""
    global _hits_since_sweep
    _hits_since_sweep += 1
    if _hits_since_sweep >= _sweep_every:
        _hits_since_sweep = 0
        await db.execute("DELETE FROM rate_limit WHERE expires_at < {}", now)
