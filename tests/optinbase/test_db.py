"""The data layer's transactions."""

import asyncio
import sqlite3

import asyncpg
import pytest

from consent.imports import jobs, parse
from optinbase import db
from tests import databases
from tests.factories import context, grant, make_contact, make_purpose, make_tenant, make_world


async def test_a_write_cannot_join_a_read_only_transaction(backend):
    tenant = await make_tenant()
    async with db.tenant_transaction(tenant.id, write=False):
        with pytest.raises(RuntimeError, match="read-only"):
            async with db.tenant_transaction(tenant.id, write=True):
                pass
        async with db.tenant_transaction(tenant.id, write=False):  # reads may join
            assert await db.fetchval("SELECT 1") == 1


async def test_nested_transaction_for_another_tenant_is_refused(backend):
    a = await make_tenant()
    b = await make_tenant()
    async with db.tenant_transaction(a.id):
        with pytest.raises(RuntimeError, match="another tenant"):
            async with db.tenant_transaction(b.id):
                pass


async def test_after_commit_jobs_run_only_after_a_commit(backend):
    tenant = await make_tenant()
    ran: list[str] = []

    async def job() -> None:
        ran.append("committed")

    async with db.tenant_transaction(tenant.id):
        db.after_commit(job)
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(ValueError):
        async with db.tenant_transaction(tenant.id):
            db.after_commit(job)
            raise ValueError("roll back")
    assert ran == ["committed"]
    with pytest.raises(RuntimeError):
        db.after_commit(job)


def _sqlite_path(backend: str) -> str:
    if backend != "sqlite":
        pytest.skip("SQLite's file lock")
    return db.get_engine().connection_kwargs["database"]


def _file_is_free(path: str) -> bool:
    """Whether another writer can take SQLite's write lock within two seconds."""
    probe = sqlite3.connect(path, timeout=2, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def test_a_write_cancelled_while_it_waits_for_the_lock_never_keeps_the_lock(backend):
    """aiosqlite runs BEGIN IMMEDIATE in its thread; cancelling the task does
    not stop it, so it takes the lock once the holder lets go. The connection
    must still be closed, or every later writer reads "database is locked"."""
    path = _sqlite_path(backend)
    tenant = await make_tenant()
    holder = sqlite3.connect(path, timeout=5, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.tenant_transaction(tenant.id):
            await db.execute("SELECT 1")

    task = asyncio.create_task(write())
    await asyncio.sleep(0.3)  # its BEGIN IMMEDIATE now waits in aiosqlite's thread
    task.cancel()
    # Kept, as a job runner keeps a failure to report it: its traceback holds
    # the transaction's frames, so the garbage collector cannot close for us.
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    holder.execute("COMMIT")
    holder.close()
    await asyncio.sleep(0.5)  # the waiting BEGIN takes the lock, and the connection closes
    assert _file_is_free(path), cancelled.value


async def test_a_write_cancelled_mid_statement_rolls_back_and_frees_the_file(backend):
    path = _sqlite_path(backend)
    tenant = await make_tenant()
    started = asyncio.Event()

    async def write() -> None:
        async with db.tenant_transaction(tenant.id):
            await db.execute("UPDATE tenant SET name = {} WHERE id = {}", "cancelled", tenant.id)
            started.set()
            # A slow statement, running in aiosqlite's thread when the cancel comes.
            await db.fetchval("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                              " WHERE i < 3000000) SELECT count(*) FROM n")

    task = asyncio.create_task(write())
    await started.wait()
    task.cancel()
    task.cancel()  # a second cancel, as a shutdown sends, must not skip the rollback
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    await asyncio.sleep(0.2)
    assert _file_is_free(path), cancelled.value
    async with db.tenant_transaction(tenant.id, write=False):
        assert await db.fetchval("SELECT name FROM tenant WHERE id = {}", tenant.id) != "cancelled"


async def test_a_kept_sqlite_connection_carries_nothing_of_its_last_transaction(backend):
    path = _sqlite_path(backend)
    tenant = await make_tenant()
    idle = db._sqlite_idle[id(db.get_engine())]
    with pytest.raises(ValueError):
        async with db.tenant_transaction(tenant.id):
            await db.execute("UPDATE tenant SET name = {} WHERE id = {}", "rolled back", tenant.id)
            raise ValueError("roll back")
    assert idle.idle, "a connection that rolled back cleanly is kept"
    kept = idle.idle[-1]
    async with db.tenant_transaction(tenant.id):
        assert db.get_engine().current_transaction.get().connection is kept  # reused
        assert await db.fetchval("SELECT name FROM tenant WHERE id = {}", tenant.id) != "rolled back"
        await db.execute("UPDATE tenant SET name = {} WHERE id = {}", "committed", tenant.id)
    assert _file_is_free(path)  # nothing left open on the kept connection
    probe = sqlite3.connect(path)
    try:
        assert probe.execute("SELECT name FROM tenant WHERE id = ?", (str(tenant.id),)).fetchone() \
            == ("committed",)
    finally:
        probe.close()


async def test_sqlite_connections_are_kept_from_start_to_stop_only(backend, tmp_path):
    """Kept connections' threads would keep a command from exiting: `stop()`
    closes them, and an engine never started keeps none."""
    if backend != "sqlite":
        pytest.skip("SQLite's connections")
    previous = db.get_engine()
    engine = db.engine_from_url(f"sqlite:///{tmp_path / 'kept.sqlite3'}")
    db.use_engine(engine)
    try:
        async with db.transaction({}, write=True):
            await db.execute("CREATE TABLE t (x INTEGER)")
        assert id(engine) not in db._sqlite_idle  # not started: nothing kept
        await db.start(engine)
        for x in (1, 2):
            async with db.transaction({}, write=True):
                await db.execute("INSERT INTO t VALUES ({})", x)
        assert len(db._sqlite_idle[id(engine)].idle) == 1  # one connection served both
        kept = db._sqlite_idle[id(engine)].idle[0]
        await db.stop(engine)
        assert not db._sqlite_idle
        with pytest.raises(ValueError, match="no active connection"):
            await kept.execute("SELECT 1")
        async with db.transaction({}, write=False):
            assert [row["x"] for row in await db.fetch("SELECT x FROM t ORDER BY x")] == [1, 2]
    finally:
        db.use_engine(previous)
        await db.start(previous)  # stop() let go of every engine's connections


async def test_on_citus_begin_goes_alone_and_the_settings_follow(backend, monkeypatch):
    """Citus replays the whole message of a propagated `SET LOCAL` on its
    workers: with BEGIN in it, each worker answered "there is already a
    transaction in progress", a notice that cut the first line off a COPY
    export. There BEGIN is a message of its own; elsewhere BEGIN and the
    settings stay one round trip. The Citus form runs here on PostgreSQL
    too (the `citus.` setting is a placeholder there): row-level security
    reads the tenant it sets."""
    if backend != "postgres":
        pytest.skip("SQLite has no transaction settings")
    settings = (("app.tenant_id", "00000000-0000-0000-0000-000000000001"),)
    assert db.begin_messages(settings, True, False, False) == (
        "BEGIN READ ONLY; SELECT set_config('app.tenant_id',"
        " '00000000-0000-0000-0000-000000000001', true)",)
    begin, sets = db.begin_messages(settings, True, False, True)
    assert begin == "BEGIN READ ONLY"
    assert sets == ("SET LOCAL citus.propagate_set_commands = 'local';"
                    " SET LOCAL app.tenant_id = '00000000-0000-0000-0000-000000000001'")
    tenant, other = await make_tenant(), await make_tenant()
    mine, _ = await make_purpose(tenant), await make_purpose(other)
    databases.forms_of(monkeypatch, True)
    async with db.tenant_transaction(tenant.id, write=False):
        seen = await db.fetch("SELECT id FROM purpose WHERE tenant_id IN ({}, {})",
                              tenant.id, other.id)
    assert [str(row["id"]) for row in seen] == [mine["id"]]


async def test_a_new_connection_looks_its_types_up_before_any_transaction(backend, monkeypatch):
    """asyncpg looks a type up in the catalog the first time a connection
    sends or reads it. A pooled connection does it for the arrays and the
    ledger's rows when it is made (db.WARMED_TYPES), never inside a
    transaction: there, with the tenant's ledger head locked, one lookup held
    every other writer of the tenant (0.6–0.8 s each on a Citus coordinator).
    A pool of new connections then records a grant and imports a file."""
    if backend != "postgres":
        pytest.skip("asyncpg's type lookups")
    world = await make_world(await make_tenant())
    contact = await make_contact(world.tenant)
    body = (f"email,consent_channel,consent_purpose,notice_id,collected_at\n"
            f"new@example.com,email,newsletter,{world.notice['id']},2026-01-15T10:00:00Z\n").encode()
    looked_up: list[bool] = []  # for each lookup, whether a transaction was open
    original = asyncpg.Connection._introspect_types

    async def observed(connection, type_oids, timeout):
        looked_up.append(connection.is_in_transaction())
        return await original(connection, type_oids, timeout)

    monkeypatch.setattr(asyncpg.Connection, "_introspect_types", observed)
    previous, engine = db.get_engine(), db.engine_from_url(databases.POSTGRES_URL)
    db.use_engine(engine)
    try:
        await db.start(engine, max_size=2)
        await grant(world.tenant, contact["id"], world.notice["id"])
        _, report, _ = await jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                              jobs.digest(body))
    finally:
        await db.stop(engine)
        db.use_engine(previous)
    assert report.created == 1 and not report.rejected
    assert looked_up and True not in looked_up, looked_up


@pytest.mark.parametrize("citus", [False, True])
def test_a_transaction_setting_that_could_break_out_of_its_quotes_is_refused(citus):
    """The settings are written into the statement's text: ids and key ids
    never hold a quote, and a value that does is refused rather than quoted."""
    tenant = "5f0c7d3e-2a51-4c1b-9a7e-0d2b9c4e1f00"
    assert tenant in db.settings_sql({"app.tenant_id": tenant}, citus)
    for hostile in ("x'); DROP TABLE contact; --", "x\\' OR true", "'"):
        with pytest.raises(ValueError):
            db.settings_sql({"app.tenant_id": hostile}, citus)
