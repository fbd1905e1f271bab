"""Periodic housekeeping run beside the outbox worker (in the server process and
in `optinbase worker`): expiring unconfirmed double opt-ins, expiring consents
past their validity with a reminder before (consent.expiry), retention (CNIL
re-permission and purges, expired packages, lapsed requests), reminders to
DPOs about data-subject requests nearing or past their deadline, failing
imports whose process died, and — each minute, on its own clock —
signed checkpoints of the ledgers that moved.

Each job runs tenant by tenant through the envelope (`each_tenant`): its own
transaction per tenant, one tenant's failure logged without stopping the rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable, Optional

from consent import expiry, retention
from consent.imports import jobs
from consent.journey.double_opt_in import expire_unconfirmed
from consent.ledger import checkpoints
from consent.requests.reminders import remind_dpo
from tenants.envelope import each_tenant

logger = logging.getLogger("optinbase.housekeeping")

Job = Callable[[dt.datetime], Awaitable[int]]
CHECKPOINT_SECONDS = 60.0


async def expire_due(now: dt.datetime) -> int:
    """Double opt-ins left unconfirmed too long become `expired`; how many."""
    return sum(await each_tenant("expiry", lambda ctx, t: expire_unconfirmed(ctx, t, now)))


async def expire_consents_due(now: dt.datetime) -> int:
    """Consents past their validity or re-consent date become `expired`, and
    the reminders before that go out (consent.expiry); how much was done."""
    return sum(await each_tenant("consent expiry", lambda ctx, t: expiry.run(ctx, t, now)))


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
    """Imports whose process died become `failed`; how many."""
    return sum(await each_tenant("imports", lambda ctx, t: jobs.fail_abandoned(ctx, t, now)))


async def publish_moved(now: dt.datetime) -> int:
    """A signed checkpoint for every tenant whose chain moved since its log's
    last line (read-only transactions: the head read is committed already)."""
    published = await each_tenant(
        "checkpoints", lambda ctx, t: checkpoints.publish(ctx, only_if_moved=True), write=False)
    return sum(1 for checkpoint in published if checkpoint is not None)


async def _retain(now: dt.datetime) -> int:
    """Bulk work is summarised: each action at DEBUG, their count at INFO
    (by `run_periodic`)."""
    lines = await retention_due(now)
    for line in lines:
        logger.debug("retention %s", line)
    return len(lines)


def housekeeping_jobs() -> list[tuple[str, Job]]:
    return [("expire unconfirmed double opt-ins", expire_due),
            ("expire consents and remind before", expire_consents_due),
            ("retention", _retain),
            ("remind DPOs of request deadlines", remind_due),
            ("fail abandoned imports", fail_abandoned_imports)]


def scheduled_jobs(every_seconds: float, checkpoint_seconds: float
                   ) -> list[tuple[str, Job, float]]:
    """(name, job, interval): the housekeeping jobs every `every_seconds`, and
    the ledger checkpoints on their own, shorter interval (a truncation can
    only be caught behind the last published checkpoint)."""
    return [*((name, job, every_seconds) for name, job in housekeeping_jobs()),
            ("publish ledger checkpoints", publish_moved, checkpoint_seconds)]


async def run_periodic(stop: asyncio.Event, every_seconds: float = 300.0,
                       checkpoint_seconds: float = CHECKPOINT_SECONDS,
                       jobs: Optional[list[tuple[str, Job, float]]] = None) -> None:
    """Runs each job when it is due, then waits for the next one due; a failing
    job is logged and retried at its next turn."""
    loop = asyncio.get_running_loop()
    jobs = jobs if jobs is not None else scheduled_jobs(every_seconds, checkpoint_seconds)
    due: dict[str, float] = {}
    while not stop.is_set():
        for name, job, every in jobs:
            if due.get(name, 0.0) > loop.time():
                continue
            due[name] = loop.time() + every
            try:
                done = await job(dt.datetime.now(dt.timezone.utc))
                if done:
                    logger.info("%s: %d", name, done)
            except Exception:
                logger.exception("%s failed", name)
            if stop.is_set():
                return
        wait = max(0.0, min(due.values()) - loop.time())
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except asyncio.TimeoutError:
            pass
