"""Rate limits shared by every process and host: in the database (table
`rate_limit`, tenant-free), or in Redis when `REDIS_URL` is set.

A limit counts hits of a subject (a client address, an account, a target
e-mail address) in fixed windows: `spend` counts one and says whether it is
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

    def retry_after(self) -> int:
        """Seconds until the current window ends (for `Retry-After`)."""
        return max(1, self.window - int(time.time()) % self.window)


# Public forms: per client address, and per target e-mail address (hashed).
SUBSCRIBE = Limit("subscribe.address", 10, 600)
REQUEST_FORM = Limit("requests.address", 5, 600)
MAIL_TARGET = Limit("mail.target", 3, 3600)
# Admin login failures: per address and per account.
LOGIN_ADDRESS = Limit("login.address", 20, 900)
LOGIN_ACCOUNT = Limit("login.account", 10, 900)
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


def _key(limit: Limit, subject: str, now: float) -> str:
    digest = hmac.new(keyring.derive(get_settings().secret_key, "limits"),
                      f"{_namespace}\0{limit.bucket}\0{subject}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"{limit.bucket}:{int(now // limit.window)}:{digest}"


def _redis_client() -> Any:
    global _redis
    url = get_settings().redis_url
    if not url:
        return None
    if _redis is None:
        _redis = redis_asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _redis


async def spend(limit: Limit, subject: Optional[str]) -> bool:
    """Count a hit of `subject`; True while it is within `limit`."""
    now = time.time()
    key = _key(limit, subject or "?", now)
    client = _redis_client()
    if client is not None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, limit.window + 1)
            hits, _ = await pipe.execute()
        return int(hits) <= limit.limit
    hits = await db.fetchval(
        "INSERT INTO rate_limit (key, hits, expires_at) VALUES ({}, 1, {})"
        " ON CONFLICT (key) DO UPDATE SET hits = rate_limit.hits + 1 RETURNING hits",
        key, float((now // limit.window + 1) * limit.window),
    )
    await _sweep(now)
    return int(hits) <= limit.limit


async def spent(limit: Limit, subject: Optional[str]) -> bool:
    """Whether `subject` has used up `limit` in this window (counts nothing)."""
    key = _key(limit, subject or "?", time.time())
    client = _redis_client()
    if client is not None:
        hits = await client.get(key)
    else:
        hits = await db.fetchval("SELECT hits FROM rate_limit WHERE key = {}", key)
    return int(hits or 0) >= limit.limit


async def _sweep(now: float) -> None:
    """Now and then, drop counters whose window has ended."""
    global _hits_since_sweep
    _hits_since_sweep += 1
    if _hits_since_sweep >= _sweep_every:
        _hits_since_sweep = 0
        await db.execute("DELETE FROM rate_limit WHERE expires_at < {}", now)
