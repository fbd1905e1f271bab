"""What every command shares: the one-line error, the database it connects to
(the owner role for management commands), and running a coroutine with the
engine started."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine

from consent.imports import runner
from optinbase import db, process
from optinbase.settings import get_settings


class CommandError(Exception):
    """A one-line reason to print before exiting with status 1."""


def as_owner() -> None:
    """Management commands (tenants, keys, staff, imports) and migrations connect
    as the owner role (DATABASE_OWNER_URL); row-level security is forced on it too."""
    settings = get_settings()
    if settings.database_owner_url != settings.database_url:
        db.use_engine(db.engine_from_url(settings.database_owner_url))


def run(fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Runs `fn()` with the engine (a small pool on PostgreSQL) started, once
    the settings are read: a bad or missing one stops it before any work."""
    get_settings()

    async def main() -> Any:
        await db.start(max_size=runner.IN_FLIGHT)  # an import's chunks, each on its own
        process.started()
        try:
            return await fn()
        finally:
            await db.stop()

    return asyncio.run(main())
