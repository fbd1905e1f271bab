"""The two anchors the consent check is compared with, served by the same uvicorn
options as Optinbase (1 worker, uvloop, httptools, no access log).

(a) `create_bare`: Litestar + msgspec, `GET /v1/consent-check` with the same query
    parameters (parsed and validated by Litestar), no database, no auth: answers
    a constant `{"allowed": false, "status": "none"}`. The framework floor.

(b) `create_raw`: Litestar + raw asyncpg pool, no auth, no Piccolo, no
    middleware. Per request, on one pooled connection, connected as the
    application role (no BYPASSRLS, RLS forced):
      1. `BEGIN READ ONLY; SELECT set_config('app.tenant_id', '<uuid>', true)`
         -- one simple-protocol round trip;
      2. the check query Optinbase runs (`consent.consents.CHECK_BY["email"]`,
         compiled to $n placeholders; prepared statement, cached by asyncpg);
      3. `COMMIT`.
    Three round trips, like Optinbase's read path. The tenant id comes from
    BENCH_TENANT_ID (no key lookup); the e-mail is only stripped and lower-cased
    (Optinbase runs email-validator). Pool: min 1, max DATABASE_POOL_MAX (20),
    no reset query on release (same as Optinbase's `db._no_reset`).

Environment: BENCH_DB_URL (application role DSN), BENCH_TENANT_ID,
DATABASE_POOL_MAX (default 20).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Literal, Optional

import asyncpg
import msgspec
from litestar import Litestar, get
from litestar.exceptions import HTTPException

from consent.consents import CHECK_BY

Channel = Literal["email", "sms", "phone", "postal", "social_ads", "push"]


class CheckOut(msgspec.Struct, kw_only=True):
    allowed: bool
    status: str
    since: Optional[dt.datetime] = None
    event_id: Optional[uuid.UUID] = None


_NONE = CheckOut(allowed=False, status="none")


def _to_dollar(text: str) -> str:
    parts = text.split("{}")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


CHECK_SQL = _to_dollar(CHECK_BY["email"])  # $1 now, $2 channel, $3 email, $4 channel, $5 tenant, $6 purpose


# --- (a) bare -------------------------------------------------------------------


@get("/v1/consent-check", sync_to_thread=False)
def bare_check(channel: Channel, purpose: str, email: Optional[str] = None) -> CheckOut:
    return _NONE


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_bare() -> Litestar:
    return Litestar(route_handlers=[bare_check, health], openapi_config=None,
                    logging_config=None, debug=False)


# --- (b) raw asyncpg under RLS ----------------------------------------------------


class _Raw:
    pool: asyncpg.Pool
    tenant_id: uuid.UUID
    begin: str


_raw = _Raw()


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing session-level to reset: set_config(..., true) ends with the transaction."""


async def _start_pool(app: Litestar) -> None:
    _raw.tenant_id = uuid.UUID(os.environ["BENCH_TENANT_ID"])
    _raw.begin = (
        f"BEGIN READ ONLY; SELECT set_config('app.tenant_id', '{_raw.tenant_id}', true)"
    )
    _raw.pool = await asyncpg.create_pool(
        os.environ["BENCH_DB_URL"], min_size=1,
        max_size=int(os.environ.get("DATABASE_POOL_MAX") or 20), reset=_no_reset,
    )


async def _stop_pool(app: Litestar) -> None:
    await _raw.pool.close()


@get("/v1/consent-check")
async def raw_check(channel: Channel, purpose: str, email: Optional[str] = None) -> CheckOut:
    if email is None:
        raise HTTPException(status_code=400, detail="email is required")
    async with _raw.pool.acquire() as conn:
        await conn.execute(_raw.begin)
        try:
            row = await conn.fetchrow(
                CHECK_SQL, dt.datetime.now(dt.timezone.utc), channel, email.strip().lower(), channel,
                _raw.tenant_id, purpose,
            )
        finally:
            await conn.execute("COMMIT")
    if row is None:
        raise HTTPException(status_code=422, detail=f"unknown purpose {purpose!r}")
    if row["contact_id"] is None or row["status"] is None:
        return _NONE
    status = row["status"]
    expires_at = row["expires_at"]
    if status == "granted" and expires_at is not None and expires_at <= dt.datetime.now(dt.timezone.utc):
        status = "expired"
    return CheckOut(allowed=status == "granted", status=status, since=row["since"],
                    event_id=row["event_id"])


def create_raw() -> Litestar:
    return Litestar(route_handlers=[raw_check, health], on_startup=[_start_pool],
                    on_shutdown=[_stop_pool], openapi_config=None, logging_config=None,
                    debug=False)
