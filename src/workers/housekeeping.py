"""Periodic housekeeping run beside the outbox worker (in the server process and
in `optinbase worker`): expiring unconfirmed double opt-ins, retention (CNIL
re-permission and purges, expired packages, lapsed requests), reminders to
DPOs about data-subject requests nearing or past their deadline, and failing
background imports whose process died.

Each job runs tenant by tenant through the envelope (`each_tenant`): its own
transaction per tenant, one tenant's failure logged without stopping the rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable, Optional

from consent import retention
from consent.imports import jobs
from consent.journey.double_opt_in import expire_unconfirmed
from consent.requests.reminders import remind_dpo
from tenants.envelope import each_tenant

logger = logging.getLogger("optinbase.housekeeping")

Job = Callable[[dt.datetime], Awaitable[int]]


async def expire_due(now: dt.datetime) -> int:
    """Double opt-ins left unconfirmed too long become `expired`; how many."""
    return sum(await each_tenant("expiry", lambda ctx, t: expire_unconfirmed(ctx, t, now)))


async def retention_due(now: dt.datetime, only: Optional[str] = None, dry_run: bool = False,
                        strict: bool = False) -> list[str]:
    """What retention requires now (`consent.retention`), for every tenant or
    the one named: the plan's lines (dry run) or what was done."""
    done = await each_tenant("retention", lambda ctx, t: retention.retain(ctx, t, now, dry_run),
                             write=not dry_run, only=only, strict=strict)
    return [line for lines in done for line in lines]


async def remind_due(now: dt.datetime) -> int:
    """DPO digests of requests due soon or overdue; how many were queued."""
    return sum(await each_tenant("reminders", lambda ctx, t: remind_dpo(ctx, t, now)))


async def fail_abandoned_imports(now: dt.datetime) -> int:
    """Background imports whose process died become `failed`; how many."""
    if jobs.importing_here():
        return 0  # the live import holds SQLite's write lock: try again next round
    return sum(await each_tenant("imports", lambda ctx, t: jobs.fail_abandoned(ctx, t, now)))


async def _retain(now: dt.datetime) -> int:
    for line in await retention_due(now):
        logger.info("retention %s", line)
    return 0


def housekeeping_jobs() -> list[tuple[str, Job]]:
    return [("expire unconfirmed double opt-ins", expire_due),
            ("retention", _retain),
            ("remind DPOs of request deadlines", remind_due),
            ("fail abandoned imports", fail_abandoned_imports)]


async def run_periodic(stop: asyncio.Event, every_seconds: float = 300.0) -> None:
    """Runs each job, then waits; a failing job is logged and retried next time."""
    while not stop.is_set():
        for name, job in housekeeping_jobs():
            try:
                done = await job(dt.datetime.now(dt.timezone.utc))
                if done:
                    logger.info("%s: %d", name, done)
            except Exception:
                logger.exception("%s failed", name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
        except asyncio.TimeoutError:
            pass
