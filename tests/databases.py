"""Test databases: a fresh, migrated SQLite file and (when TEST_POSTGRES_URL is
set) a fresh, migrated PostgreSQL schema used through the application role."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import AsyncIterator
from urllib.parse import urlparse

import pytest
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine.base import Engine

from optinbase import db

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
POSTGRES_OWNER_URL = os.environ.get("TEST_POSTGRES_OWNER_URL", "") or POSTGRES_URL
IN_CI = os.environ.get("CI", "").lower() == "true"


BACKENDS = ["sqlite", "postgres"]
# The engine of the application (role), and its URL, by backend: made once per session.
engines: dict[str, tuple[Engine, str]] = {}
# The engine management commands use (the owner role on PostgreSQL), by backend.
owner_engines: dict[str, Engine] = {}


async def engine_for(backend: str) -> tuple[Engine, str]:
    """The session's migrated test database of that backend (made on first use)."""
    if backend not in engines:
        if backend == "postgres":
            if not POSTGRES_URL:
                if IN_CI:
                    pytest.fail("CI=true but TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
                pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (see README, Testing)")
            engines[backend] = await migrated_postgres()
        else:
            engines[backend] = await migrated_sqlite()
    return engines[backend]


@contextlib.asynccontextmanager
async def in_use(backend: str) -> AsyncIterator[Engine]:
    """This process works on the session's test database of `backend` (the
    application role on PostgreSQL), its pool started for the block."""
    engine, _ = await engine_for(backend)
    db.use_engine(engine)
    await db.start(engine)
    try:
        yield engine
    finally:
        await db.stop(engine)


async def migrated_sqlite() -> tuple[Engine, str]:
    path = os.path.join(tempfile.mkdtemp(prefix="optinbase-test-"), "test.sqlite3")
    url = f"sqlite:///{path}"
    engine = db.engine_from_url(url)
    db.use_engine(engine)
    result = await run_forwards("all")
    assert result.success, result.message
    await db.start(engine)
    owner_engines["sqlite"] = engine
    return engine, url


async def migrated_postgres() -> tuple[Engine, str]:
    """Resets the public schema as the owner, migrates, grants the app role,
    and returns an engine connected as the application role."""
    owner = db.engine_from_url(POSTGRES_OWNER_URL)
    db.use_engine(owner)
    await owner.run_ddl("DROP SCHEMA IF EXISTS public CASCADE")
    await owner.run_ddl("CREATE SCHEMA public")
    result = await run_forwards("all")
    assert result.success, result.message
    app_role = urlparse(POSTGRES_URL).username
    if app_role and app_role != urlparse(POSTGRES_OWNER_URL).username:
        await db.execute("SELECT optinbase_grant_app_role({})", app_role)
    owner_engines["postgres"] = owner
    engine = db.engine_from_url(POSTGRES_URL)
    db.use_engine(engine)
    return engine, POSTGRES_URL
