"""Test databases: a fresh, migrated SQLite file and (when TEST_POSTGRES_URL is
set) a fresh, migrated PostgreSQL schema used through the application role.

CITUS_URL (the owner role on a Citus coordinator's database, with the citus
extension and its workers registered, as DEVELOPERS.md says)
runs the PostgreSQL suite there instead: after migrating, the fixture
distributes the tables with scripts/citus-distribute.sql (DEVELOPERS.md)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest
from piccolo.engine.base import Engine

from optinbase import db, schema

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")
POSTGRES_OWNER_URL = os.environ.get("TEST_POSTGRES_OWNER_URL", "") or POSTGRES_URL
CITUS_URL = os.environ.get("CITUS_URL", "")


def forms_of(monkeypatch: pytest.MonkeyPatch, citus: bool) -> None:
    """The statements a Citus coordinator gets (`citus`) or PostgreSQL's own
    (`db.is_citus`), whatever database the suite runs on: for tests that read
    the texts, or run Citus's forms on PostgreSQL."""
    monkeypatch.setattr(db, "is_citus", lambda engine=None: citus)


def in_forms_of(monkeypatch: pytest.MonkeyPatch, citus: bool, refused: str) -> None:
    """`forms_of`, for a test that runs the statements: a real coordinator
    (CITUS_URL) refuses PostgreSQL's — `refused` says which — so that variant
    skips there."""
    if CITUS_URL and not citus:
        pytest.skip(f"a real Citus coordinator refuses PostgreSQL's {refused}")
    forms_of(monkeypatch, citus)


if CITUS_URL:  # the same database as the application role
    _owner, _app = urlparse(CITUS_URL).username, urlparse(POSTGRES_URL).username or "optinbase_app"
    POSTGRES_OWNER_URL, POSTGRES_URL = CITUS_URL, CITUS_URL.replace(f"//{_owner}@", f"//{_app}@", 1)
DISTRIBUTE = Path(__file__).parents[1] / "scripts" / "citus-distribute.sql"

# Under pytest-xdist each worker process gets a PostgreSQL database of its own,
# `<test database>_<worker>` (made by the owner role, which may create databases),
# so workers never drop or migrate each other's schema.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_BASE_OWNER_URL = POSTGRES_OWNER_URL


def _on_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


if WORKER and POSTGRES_URL and not CITUS_URL:
    _WORKER_DB = f"{urlparse(POSTGRES_URL).path.lstrip('/')}_{WORKER}"
    POSTGRES_URL = _on_database(POSTGRES_URL, _WORKER_DB)
    POSTGRES_OWNER_URL = _on_database(POSTGRES_OWNER_URL, _WORKER_DB)


async def _create_worker_database() -> None:
    """A fresh database for this worker, owned by the owner role; the
    application role may connect (grants.sql gives it the rest)."""
    name, app_role = urlparse(POSTGRES_URL).path.lstrip("/"), urlparse(POSTGRES_URL).username
    conn = await asyncpg.connect(_BASE_OWNER_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        if app_role:
            await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{app_role}"')
    finally:
        await conn.close()
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
    application role on PostgreSQL). On PostgreSQL its pool, and the owner's,
    stay open for the session (`close_all` ends them): each new connection is
    a backend whose catalog caches start cold, and a test used to open two or
    three (the pool's first, the owner's set-up) — ~4,000 a run. SQLite's kept
    connections close with the test (one may have restored the file under them)."""
    engine, _ = await engine_for(backend)
    db.use_engine(engine)
    await db.start(engine)  # again, if a test stopped it
    try:
        yield engine
    finally:
        if backend == "sqlite":
            await db.stop(engine)


async def close_all() -> None:
    for engine in [*(engine for engine, _ in engines.values()), *owner_engines.values()]:
        await db.stop(engine)


async def migrated_sqlite() -> tuple[Engine, str]:
    path = os.path.join(tempfile.mkdtemp(prefix="optinbase-test-"), "test.sqlite3")
    url = f"sqlite:///{path}"
    engine = db.engine_from_url(url)
    db.use_engine(engine)
    await schema.migrate()
    await db.start(engine)
    owner_engines["sqlite"] = engine
    return engine, url


# The owner's own tables and functions in `public`, never an extension's (citus
# keeps its objects there too, and `DROP SCHEMA public CASCADE` would drop it).
_OWN_OBJECTS = """
SELECT 1, format('DROP TABLE IF EXISTS %s CASCADE', c.oid::regclass) FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
   AND pg_get_userbyid(c.relowner) = current_user
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 2, format('DROP FUNCTION IF EXISTS %s CASCADE', p.oid::regprocedure) FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND pg_get_userbyid(p.proowner) = current_user
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""


async def drop_own_objects() -> None:
    """Empties the database of what the owner made (tables, their sequences,
    policies and triggers, functions), leaving extensions and the schema alone."""
    for row in await db.fetch(_OWN_OBJECTS):
        await db.execute(row[1])


async def distribute() -> None:
    """scripts/citus-distribute.sql without its psql commands (lines starting
    with a backslash), sent as one simple-protocol script."""
    script = "\n".join(
        line for line in DISTRIBUTE.read_text().splitlines() if not line.startswith("\\")
    )
    engine = db.get_engine()
    connection = await engine.get_new_connection()
    try:
        await connection.execute(script)
    finally:
        await connection.close()


async def migrated_postgres() -> tuple[Engine, str]:
    """Drops the owner's objects, migrates, grants the app role, and returns an
    engine connected as the application role."""
    if WORKER and not CITUS_URL:
        await _create_worker_database()
    owner = db.engine_from_url(POSTGRES_OWNER_URL)
    db.use_engine(owner)
    await drop_own_objects()
    app_role = urlparse(POSTGRES_URL).username
    if app_role == urlparse(POSTGRES_OWNER_URL).username:
        app_role = None
    await schema.migrate(app_role)
    if CITUS_URL:
        await distribute()
        if app_role:
            await schema.grant_app_role(app_role)  # the shards made since carry them too
    await db.start(owner, max_size=4)
    owner_engines["postgres"] = owner
    engine = db.engine_from_url(POSTGRES_URL)
    db.use_engine(engine)
    return engine, POSTGRES_URL
