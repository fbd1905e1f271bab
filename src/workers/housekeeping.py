"""Periodic housekeeping run beside the outbox worker (in the server process and
in `optinbase worker`): expiring unconfirmed double opt-ins, retention (CNIL
re-permission and purges, expired packages, lapsed requests), reminders to
DPOs about data-subject requests nearing or past their deadline, failing
background imports whose process died, and — each minute, on its own clock —
signed checkpoints of the ledgers that moved."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable, Optional

from consent import retention
from consent.imports.jobs import fail_abandoned
from consent.journey.double_opt_in import expire_unconfirmed
from consent.ledger.checkpoints import publish_moved
from consent.requests.reminders import remind_dpos

logger = logging.getLogger("optinbase.housekeeping")

Job = Callable[[dt.datetime], Awaitable[int]]
CHECKPOINT_SECONDS = 60.0


def housekeeping_jobs() -> list[tuple[str, Job]]:
    async def retain(now: dt.datetime) -> int:
        for line in await retention.run(now):
            logger.info("retention %s", line)
        return 0

    return [("expire unconfirmed double opt-ins", expire_unconfirmed),
            ("retention", retain),
            ("remind DPOs of request deadlines", remind_dpos),
            ("fail abandoned imports", fail_abandoned)]


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
