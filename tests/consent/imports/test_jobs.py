"""Import jobs whose process died (a restart, a crash, a kill) do not stay
`running` for ever: housekeeping fails them, and never a live or young one."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

import asyncpg
import pytest

from consent.imports import jobs, runner
from optinbase import db
from optinbase.settings import get_settings
from tests import databases
from tests.api.test_imports import HEADER, WHEN, post_import
from tests.factories import make_tenant, make_world
from workers import housekeeping

NOW = dt.datetime.now(dt.timezone.utc)
LONG_AGO = dt.timedelta(minutes=10)


async def _job(tenant, status: str, age: dt.timedelta) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with db.tenant_transaction(tenant.id):
        await db.execute(
            "INSERT INTO import_job (id, tenant_id, status, format, total, created, updated,"
            " rejected, errors, detail, actor, created_at) VALUES ({}, {}, {}, 'csv', 10, 0, 0, 0,"
            " '[]', '', 'test', {})", job_id, tenant.id, status, NOW - age)
    return job_id


async def test_abandoned_jobs_fail_and_young_or_finished_ones_stay(client, backend):
    tenant = await make_tenant()
    dead = await _job(tenant, "running", LONG_AGO)
    young = await _job(tenant, "running", dt.timedelta(seconds=30))  # just claimed
    done = await _job(tenant, "done", LONG_AGO)
    assert await housekeeping.fail_abandoned_imports(NOW) >= 1
    assert await _statuses(tenant, dead, young, done) == {
        dead: "failed", young: "running", done: "done"}
    polled = (await client.get(f"/v1/imports/{dead}", headers=tenant.headers)).json()
    assert polled["status"] == "failed" and "send the file again" in polled["detail"]
    assert polled["finished_at"]


async def test_a_job_whose_row_is_held_is_alive(backend):
    """PostgreSQL: the live import's transaction holds its job's row, as here."""
    if backend != "postgres":
        pytest.skip("row locks are PostgreSQL's")
    tenant = await make_tenant()
    live = await _job(tenant, "running", LONG_AGO)
    holder = await asyncpg.connect(databases.POSTGRES_URL)
    try:
        async with holder.transaction():
            await holder.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            await holder.execute(f"SET LOCAL app.tenant_id = '{tenant.id}'")
            await holder.execute("SELECT id FROM import_job WHERE tenant_id = $1 AND id = $2"
                                 " FOR UPDATE", tenant.id, live)
            await housekeeping.fail_abandoned_imports(NOW)
            assert await _statuses(tenant, live) == {live: "running"}
    finally:
        await holder.close()
    await housekeeping.fail_abandoned_imports(NOW)  # released without finishing: its process is gone
    assert await _statuses(tenant, live) == {live: "failed"}


async def test_a_job_whose_run_holds_its_lock_is_alive(backend):
    """PostgreSQL: a run holds its job's lock (runner.run) for as long as it
    writes, also while a chunk written behind another waits with the job's
    row free. Housekeeping reads the lock without taking it."""
    if backend != "postgres":
        pytest.skip("advisory locks are PostgreSQL's")
    tenant = await make_tenant()
    live = await _job(tenant, "running", LONG_AGO)
    async with db.exclusive(runner.run_lock(live)) as held:
        assert held
        assert await db.held(runner.run_lock(live))
        assert not await db.held(runner.run_lock(uuid.uuid4()))
        await housekeeping.fail_abandoned_imports(NOW)
        assert await _statuses(tenant, live) == {live: "running"}
        async with db.exclusive(runner.run_lock(live)) as again:
            assert not again  # a second run of the job stops
    assert not await db.held(runner.run_lock(live))
    await housekeeping.fail_abandoned_imports(NOW)  # its process is gone
    assert await _statuses(tenant, live) == {live: "failed"}


async def test_jobs_of_this_process_or_that_moved_lately_are_alive(backend):
    """A live import commits a chunk every second or so (`progressed_at`),
    whichever process runs it; this process also knows its own jobs."""
    tenant = await make_tenant()
    dead, live = await _job(tenant, "running", LONG_AGO), await _job(tenant, "running", LONG_AGO)
    moving = await _job(tenant, "running", LONG_AGO)
    async with db.tenant_transaction(tenant.id):
        await db.execute("UPDATE import_job SET progressed_at = {} WHERE tenant_id = {} AND id = {}",
                         NOW - dt.timedelta(seconds=20), tenant.id, moving)
    jobs._live.add(live)
    try:
        assert await housekeeping.fail_abandoned_imports(NOW) >= 1
        assert await _statuses(tenant, dead, live, moving) == {
            dead: "failed", live: "running", moving: "running"}
    finally:
        jobs._live.discard(live)


async def _statuses(tenant, *job_ids) -> dict:
    async with db.tenant_transaction(tenant.id, write=False):
        return {job_id: (await jobs.get_job(_ctx(tenant), job_id)).status for job_id in job_ids}


def _ctx(tenant):
    from optinbase.context import TenantContext

    return TenantContext.for_system(tenant, "test")


async def test_a_running_background_import_is_never_taken_for_abandoned(backend, client, app,
                                                                        monkeypatch):
    """Housekeeping an hour later, while the import runs: its chunks hold its
    job row (PostgreSQL) or move it on, and this process knows its jobs."""
    # The import controller reads the inline limit from the app's settings per request.
    monkeypatch.setattr(app.state, "settings",
                        dataclasses.replace(app.state.settings, import_inline_bytes=10))
    world = await make_world(await make_tenant())
    rows = 6 * get_settings().import_chunk_rows
    body = HEADER + "".join(
        f"run{i}@example.com,,,,,email,newsletter,{world.notice['id']},{WHEN},\n"
        for i in range(rows))
    job_id = (await post_import(client, world.tenant, body)).json()["id"]
    for _ in range(2000):  # claimed, and this process's import under way
        status = (await client.get(f"/v1/imports/{job_id}", headers=world.tenant.headers)).json()["status"]
        if status != "queued" and uuid.UUID(job_id) in jobs._live:
            break
        await asyncio.sleep(0.01)
    assert status == "running"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    await housekeeping.fail_abandoned_imports(later)  # goes in between two chunks
    for _ in range(3000):
        job = (await client.get(f"/v1/imports/{job_id}", headers=world.tenant.headers)).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert (job["status"], job["created"]) == ("done", rows), job
    await asyncio.gather(*jobs._tasks)  # the task ends after its commit
