"""Periodic housekeeping run beside the outbox worker (in the server process and
in `optinbase worker`): expiring unconfirmed double opt-ins, and later retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable

logger = logging.getLogger("optinbase.background")

Job = Callable[[dt.datetime], Awaitable[int]]


def housekeeping_jobs() -> list[tuple[str, Job]]:
    from consent.double_opt_in import expire_unconfirmed

    return [("expire unconfirmed double opt-ins", expire_unconfirmed)]


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
