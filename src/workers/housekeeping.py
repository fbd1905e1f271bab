"""Periodic housekeeping run beside the outbox worker (in the server process and
in `optinbase worker`): expiring unconfirmed double opt-ins, retention (CNIL
re-permission and purges, expired packages, lapsed requests), reminders to
DPOs about data-subject requests nearing or past their deadline, and failing
background imports whose process died."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable

from consent import retention
from consent.imports.jobs import fail_abandoned
from consent.journey.double_opt_in import expire_unconfirmed
from consent.requests.reminders import remind_dpos

logger = logging.getLogger("optinbase.housekeeping")

Job = Callable[[dt.datetime], Awaitable[int]]


def housekeeping_jobs() -> list[tuple[str, Job]]:
    async def retain(now: dt.datetime) -> int:
        for line in await retention.run(now):
            logger.info("retention %s", line)
        return 0

    return [("expire unconfirmed double opt-ins", expire_unconfirmed),
            ("retention", retain),
            ("remind DPOs of request deadlines", remind_dpos),
            ("fail abandoned imports", fail_abandoned)]


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
