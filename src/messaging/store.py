"""Where outbox rows change delivery state: which tenants have due rows, the
claim (a lease owned by a claim token), the lease check before a send, and the
outcome. Every statement names one tenant (`tenant_id = $n`) and runs inside
that tenant's transaction; only `due_tenants` looks across tenants, and it
returns tenant ids alone.

On PostgreSQL these are calls to the owner's SECURITY DEFINER functions (see
the migration `messaging_2026_12_01t06_20_00_000000`): the application role
may not change delivery columns itself, and no setting opens other tenants'
rows to it. SQLite has no roles; the same statements run here directly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any, Optional

from optinbase import db

# The resting lanes of this process's workers (OutboxWorker._poll): a commit
# that queued a message wakes them, so a confirmation leaves at once rather than
# at the next poll (a second, on average half of one, per e-mail a person waits
# for). On PostgreSQL the commit also sends a NOTIFY on CHANNEL, which the
# workers of other processes (`optinbase worker`) listen to.
resting: set[asyncio.Event] = set()
CHANNEL = "optinbase_outbox"
# This process's open LISTEN connections (OutboxWorker's `_listen`): while one
# is open, the process hears its own commits' NOTIFY, and the in-memory wake-up
# would only start a second pass for the same message.
listening = 0


async def queued() -> None:
    """Where a message is queued, in its transaction: the workers of this
    process, and on PostgreSQL of every process, start a pass once it commits
    (one wake-up per transaction however many it queued; PostgreSQL delivers
    a NOTIFY at commit only, so a rolled-back message wakes nobody)."""
    if db.after_commit(_wake) and db.is_postgres():
        await db.execute(f"NOTIFY {CHANNEL}")


def wake() -> None:
    for event in tuple(resting):
        event.set()


async def _wake() -> None:
    if not listening:
        wake()


# Priority classes (outbox_message.priority): claims take lower first.
TRANSACTIONAL, STANDARD, BULK = 0, 1, 2

# Outcomes `record` accepts; `released` hands an unattempted row back
# (pending again, its attempt not counted).
OUTCOMES = ("sent", "logged", "cancelled", "pending", "dead", "released")

# One statement (on SQLite each statement outside a transaction opens a connection,
# and idle workers ask every second): leases that ran out, then each class apart,
# which index outbox_message_due_class serves.
_SQLITE_LAPSED = (
    "SELECT tenant_id, min(priority) AS priority FROM outbox_message"
    " WHERE status = 'sending' AND locked_until < {now} AND priority <= {max_priority}"
    " GROUP BY tenant_id"
)
_SQLITE_DUE_IN_CLASS = (
    " UNION ALL SELECT DISTINCT tenant_id, %d AS priority FROM outbox_message"
    " WHERE status = 'pending' AND priority = %d AND next_attempt_at <= {now}"
)

_SQLITE_GIVE_UP = (
    "UPDATE outbox_message SET status = 'dead', locked_until = NULL,"
    " last_error = coalesce(last_error || ' / ', '') || 'gave up: no attempt left'"
    " WHERE tenant_id = {} AND attempts >= {}"
    " AND (status = 'pending' OR (status = 'sending' AND locked_until < {}))"
)

_SQLITE_CLAIM = (
    "UPDATE outbox_message SET status = 'sending', claim_token = {token}, locked_until = {until},"
    " attempts = attempts + 1,"
    " message_id = CASE WHEN kind = 'email'"
    "  THEN coalesce(message_id, '<' || id || '@' || {domain} || '>') END"
    " WHERE tenant_id = {tenant} AND id IN (SELECT id FROM outbox_message"
    "  WHERE tenant_id = {tenant} AND priority <= {max_priority} AND attempts < {max_attempts}"
    "  AND ((status = 'pending' AND next_attempt_at <= {now})"
    "   OR (status = 'sending' AND locked_until < {now}))"
    "  ORDER BY priority, next_attempt_at, id LIMIT {limit})"
    " RETURNING id, kind, recipient, subject, payload, attempts, priority, message_id"
)

_SQLITE_TOUCH = (
    "UPDATE outbox_message SET locked_until = {}"
    " WHERE tenant_id = {} AND id IN ({ids}) AND claim_token = {} AND status = 'sending'"
    " RETURNING id"
)

_SQLITE_RECORD = (
    "UPDATE outbox_message SET"
    " status = CASE {status} WHEN 'released' THEN 'pending' ELSE {status} END,"
    " attempts = CASE {status} WHEN 'released' THEN attempts - 1 ELSE attempts END,"
    " next_attempt_at = coalesce({next_attempt_at}, next_attempt_at),"
    " last_error = CASE {status} WHEN 'released' THEN last_error ELSE {error} END,"
    " sent_at = CASE WHEN {status} IN ('sent', 'logged') THEN {at} ELSE sent_at END,"
    " locked_until = NULL"
    " WHERE tenant_id = {tenant} AND id = {id} AND claim_token = {token} AND status = 'sending'"
    " RETURNING id"
)


async def due_tenants(now: dt.datetime, max_priority: int) -> list[tuple[uuid.UUID, int]]:
    """(tenant id, best due priority class) of every tenant with rows to send
    now (pending and due, or leased to a worker whose lease ran out)."""
    if db.is_postgres():
        async with db.across_tenants():
            rows = await db.fetch("SELECT tenant_id, priority FROM optinbase_outbox_due({}, {})",
                                  now, max_priority)
    else:
        classes = "".join(_SQLITE_DUE_IN_CLASS % (p, p) for p in range(max_priority + 1))
        rows = await db.fetch(_SQLITE_LAPSED + classes, now=now, max_priority=max_priority)
    best: dict[uuid.UUID, int] = {}
    for r in rows:
        tenant_id = r["tenant_id"]
        best[tenant_id] = min(best.get(tenant_id, 99), int(r["priority"]))
    return list(best.items())


async def claim(tenant_id: uuid.UUID, token: uuid.UUID, now: dt.datetime, until: dt.datetime, *,
                max_priority: int, limit: int, max_attempts: int, domain: str) -> list[Any]:
    """Leases up to `limit` due rows of the tenant to `token` until `until`,
    lower priority classes first, counting an attempt each; rows whose attempts
    ran out become `dead` first. In the caller's tenant transaction."""
    db.require_tenant(tenant_id)
    if db.is_postgres():
        return await db.fetch(
            "SELECT * FROM optinbase_outbox_claim({}, {}, {}, {}, {}, {}, {}, {})",
            tenant_id, token, now, until, max_priority, limit, max_attempts, domain)
    await db.execute(_SQLITE_GIVE_UP, tenant_id, max_attempts, now)
    return await db.fetch(_SQLITE_CLAIM, token=token, until=until, domain=domain,
                          tenant=tenant_id, max_priority=max_priority,
                          max_attempts=max_attempts, now=now, limit=limit)


async def touch(tenant_id: uuid.UUID, message_ids: list[Any], token: uuid.UUID,
                until: dt.datetime) -> set[Any]:
    """Extends to `until` the lease of those rows still leased to `token`, and
    returns their ids (the others were taken over by another worker, or are gone)."""
    db.require_tenant(tenant_id)
    if not message_ids:
        return set()
    if db.is_postgres():
        rows = await db.fetch("SELECT optinbase_outbox_touch({}, {}, {}, {}) AS id",
                              tenant_id, list(message_ids), token, until)
    else:
        rows = await db.fetch(_SQLITE_TOUCH.replace("{ids}", ", ".join(["{}"] * len(message_ids))),
                              until, tenant_id, *message_ids, token)
    return {r["id"] for r in rows}


async def record(tenant_id: uuid.UUID, message_id: Any, token: uuid.UUID, status: str, *,
                 next_attempt_at: Optional[dt.datetime] = None, error: Optional[str] = None,
                 at: Optional[dt.datetime] = None) -> bool:
    """Records an outcome if the row is still leased to `token`; False otherwise
    (the lease was taken over: the other worker's outcome stands)."""
    if status not in OUTCOMES:
        raise ValueError(f"unknown outcome {status!r}")
    db.require_tenant(tenant_id)
    if db.is_postgres():
        return bool(await db.fetchval(
            "SELECT optinbase_outbox_record({}, {}, {}, {}, {}, {}, {})",
            tenant_id, message_id, token, status, next_attempt_at, error, at))
    return bool(await db.fetch(_SQLITE_RECORD, status=status, next_attempt_at=next_attempt_at,
                               error=error, at=at, tenant=tenant_id, id=message_id, token=token))
