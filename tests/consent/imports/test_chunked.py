"""Imports commit chunk by chunk (issue 14 §4), on both engines: the tenant's
unsubscribes go in while a big import runs, a killed import resumes from its
last committed chunk with exact counts and no duplicate ledger event, a bad
row in a later chunk is reported at its line, and a stopped background job
is resumed by posting the same file again."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import select
import signal
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from consent import tokens
from consent.imports import jobs, parse, runner, write
from consent.ledger import chain
from optinbase import db
from optinbase.settings import get_settings
from tests import databases
from tests.consent.imports.test_cli_import import CHUNK_ROWS, tenant_counts, write_csv
from tests.factories import as_owner, context, grant, make_contact, make_tenant, make_world
from tests.processes import COMMAND

ROWS = 20 * CHUNK_ROWS  # 5,000 rows by chunks of 250 (tests/conftest.py)


def _start_import(path: Path, slug: str, cli_env: dict) -> subprocess.Popen:
    return subprocess.Popen([*COMMAND, "import", str(path), "--tenant", slug], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _read_until(proc: subprocess.Popen, wanted: str, seconds: float = 300) -> str:
    """Its standard error up to `wanted` (the progress line of a chunk)."""
    seen, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
            if wanted.encode() in seen:
                return seen.decode()
    raise AssertionError(f"no {wanted!r} before the import ended: {seen[-300:]!r}")


async def _one_click(client, world) -> float:
    """The one-click unsubscribe of the world's contact (RFC 8058); seconds it took."""
    link = tokens.make_token(get_settings().secret_key, world.tenant.id,
                             uuid.UUID(world.contact["id"]), uuid.UUID(world.purpose["id"]), "email")
    started = time.monotonic()
    answer = await client.post(f"/p/unsubscribe/{link}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200, answer.text
    return time.monotonic() - started


async def _verified(client, tenant) -> int:
    verify = (await client.get("/v1/ledger/verify", headers=tenant.headers)).json()
    assert verify["ok"], verify
    return verify["events"]


async def _job_row(tenant_id, job_id=None) -> dict:
    async with db.tenant_transaction(tenant_id, write=False):
        rows = await db.fetch("SELECT id, status, rows_done, created, updated, rejected, detail"
                              " FROM import_job WHERE tenant_id = {}", tenant_id)
    assert len(rows) == 1, rows
    return dict(rows[0])


async def _feed_numbers(tenant_id) -> tuple[int, int, int]:
    """(changes, distinct numbers, the head's last number) of the tenant's
    change feed: an import of new people takes its numbers with the head's
    lock (chain.Chain.lock_taking), which must leave no gap nor twin."""
    async with db.tenant_transaction(tenant_id, write=False):
        row = await db.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT seq) AS d, coalesce(max(seq), 0) AS top"
            " FROM change_log WHERE tenant_id = {}", tenant_id)
        head = await db.fetchval("SELECT change_seq FROM ledger_head WHERE tenant_id = {}",
                                 tenant_id)
    assert row["top"] == head
    return int(row["n"]), int(row["d"]), int(head)


async def _duplicated_grants(tenant_id) -> int:
    """Ledger events recorded twice for one contact, channel, purpose and time."""
    async with db.tenant_transaction(tenant_id, write=False):
        return int(await db.fetchval(
            "SELECT count(*) FROM (SELECT contact_id FROM consent_event WHERE tenant_id = {}"
            " GROUP BY contact_id, channel, purpose_id, collected_at HAVING count(*) > 1) d",
            tenant_id))


async def _until_a_chunk_committed(tenant_id) -> None:
    """Polls until an import of the tenant has committed its first chunk."""
    for _ in range(3000):
        await asyncio.sleep(0.01)
        async with db.tenant_transaction(tenant_id, write=False):
            if await db.fetchval("SELECT max(rows_done) FROM import_job WHERE tenant_id = {}",
                                 tenant_id):
                return


async def _imported(world, body: bytes):
    """The report of importing `body` (a CSV) for the world's tenant."""
    _, report, _ = await jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                          jobs.digest(body))
    return report


async def _import_lines(world, lines: list[str]):
    """The report of importing `lines` (a CSV) for the world's tenant."""
    return await _imported(world, "".join(lines).encode())


async def _person(tenant_id, email: str) -> dict:
    async with db.tenant_transaction(tenant_id, write=False):
        return dict(await db.fetchrow(
            "SELECT first_name, last_activity_at FROM contact WHERE tenant_id = {} AND email = {}",
            tenant_id, email))


async def test_an_unsubscribe_goes_in_while_a_big_import_runs(client, cli_env, tmp_path):
    world = await make_world(await make_tenant())
    path = write_csv(tmp_path / "big.csv", world.notice["id"], ROWS, "busy")
    proc = _start_import(path, world.tenant.slug, cli_env)
    try:
        _read_until(proc, f"\r{4 * CHUNK_ROWS:,}/")
        assert proc.poll() is None, "the import ended before the unsubscribe"
        took = await _one_click(client, world)
        # It did not wait for the import: that is still running, and the
        # unsubscribe waited at most for the chunk being written.
        assert proc.poll() is None, "the unsubscribe waited for the end of the import"
        assert took < 15, took  # a shared, loaded machine: the proof is the line above
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"done: {ROWS:,} rows, {ROWS:,} created, 0 updated, 0 rejected" in out.decode()
    assert await _verified(client, world.tenant) == 1 + ROWS + 1
    async with db.tenant_transaction(world.tenant.id, write=False):
        seqs = await db.fetchrow(
            "SELECT (SELECT seq FROM consent_event WHERE tenant_id = {} AND action = 'withdrawn')"
            " AS withdrawal, (SELECT max(seq) FROM consent_event WHERE tenant_id = {}) AS last",
            world.tenant.id, world.tenant.id)
    # Between two chunks of the import, after those committed before the progress line
    # (it is written once a chunk is sent, with at most runner.IN_FLIGHT in flight).
    committed = (4 - runner.IN_FLIGHT) * CHUNK_ROWS
    assert 1 + committed <= int(seqs["withdrawal"]) < int(seqs["last"]), dict(seqs)


async def test_a_killed_import_resumes_from_its_last_chunk(client, cli_env, tmp_path):
    world = await make_world(await make_tenant())
    path = write_csv(tmp_path / "big.csv", world.notice["id"], ROWS, "kill")
    proc = _start_import(path, world.tenant.slug, cli_env)
    try:
        _read_until(proc, f"\r{10 * CHUNK_ROWS:,}/")
        assert proc.poll() is None, "the import finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.2)  # PostgreSQL notices the dead connection and rolls back
    # Whole chunks only: the job's progress and the rows agree.
    job = await _job_row(world.tenant.id)
    done = job["rows_done"]
    # The line came once the tenth chunk was sent: all but the ones in flight had committed.
    committed = (10 - runner.IN_FLIGHT) * CHUNK_ROWS
    assert job["status"] == "running" and done % CHUNK_ROWS == 0 and committed <= done < ROWS, job
    assert job["created"] == done and job["rejected"] == 0
    assert await tenant_counts(world.tenant.id) == (1 + done, 1 + done, 1)
    assert await _verified(client, world.tenant) == 1 + done
    await _one_click(client, world)  # the tenant's writes go on meanwhile

    again = subprocess.run([*COMMAND, "import", str(path), "--tenant", world.tenant.slug],
                           env=cli_env, capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stderr.decode().startswith(f"\r{done:,}/{ROWS:,} rows")
    summary = again.stdout.decode().strip()
    assert summary == (f"import {job['id']} resumed and done: {ROWS:,} rows, {ROWS:,} created,"
                       " 0 updated, 0 rejected"), summary
    assert await tenant_counts(world.tenant.id) == (1 + ROWS, 1 + ROWS + 1, 1)
    assert await _verified(client, world.tenant) == 1 + ROWS + 1
    assert await _duplicated_grants(world.tenant.id) == 0
    shown = (await client.get(f"/v1/imports/{job['id']}", headers=world.tenant.headers)).json()
    assert (shown["status"], shown["total"], shown["created"], shown["updated"],
            shown["rejected"], shown["errors"]) == ("done", ROWS, ROWS, 0, 0, [])
    assert shown["finished_at"] and shown["detail"] == ""


HEADER = "email,phone,first_name,consent_channel,consent_purpose,notice_id,collected_at\n"
WHEN = "2026-01-15T10:00:00Z"


def _file(notice_id: str, rows: int, poison: dict[int, str]) -> bytes:
    """`rows` good rows, where the data row numbered i (from 0) is `poison[i]` instead."""
    lines = [HEADER]
    for i in range(rows):
        lines.append(poison.get(i) or f"good{i}@example.com,,G{i},email,newsletter,{notice_id},{WHEN}\n")
    return "".join(lines).encode()


async def test_bad_rows_in_a_later_chunk_are_rejected_at_their_line(client, backend):
    world = await make_world(await make_tenant())
    await make_contact(world.tenant, email="other@example.com")
    notice = world.notice["id"]
    rows = 5 * CHUNK_ROWS  # both bad rows in the fifth chunk
    first, second = 4 * CHUNK_ROWS + CHUNK_ROWS // 5, 4 * CHUNK_ROWS + 3 * CHUNK_ROWS // 5
    body = _file(notice, rows, {
        first: "not-an-address,,X,email,newsletter,{n},{w}\n".format(n=notice, w=WHEN),
        # e-mail of one contact, phone of another: found only when the chunk is written
        second: f"other@example.com,+33612345678,Y,email,newsletter,{notice},{WHEN}\n",
    })
    job_id, report, resumed = await jobs.import_file(
        context(world.tenant), parse.scan(body, "csv"), jobs.digest(body))
    assert not resumed
    assert (report.total, report.created, report.updated, report.rejected) == (rows, rows - 2, 0, 2)
    assert [(e["line"], e["column"]) for e in report.errors] == [(first + 2, "email"),
                                                                 (second + 2, "phone")]
    shown = (await client.get(f"/v1/imports/{job_id}", headers=world.tenant.headers)).json()
    assert (shown["status"], shown["created"], shown["rejected"]) == ("done", rows - 2, 2)
    assert [e["line"] for e in shown["errors"]] == [first + 2, second + 2]
    assert await tenant_counts(world.tenant.id) == (2 + rows - 2, 1 + rows - 2, 1)
    assert await _verified(client, world.tenant) == 1 + rows - 2


async def test_a_stopped_background_import_resumes_when_the_file_is_sent_again(
        client, app, backend, monkeypatch):
    """The server stops mid-import (its task cancelled): the job is `failed`
    with what committed; the same body posted again resumes it, same id."""
    monkeypatch.setattr(app.state, "settings",
                        dataclasses.replace(app.state.settings, import_inline_bytes=10))
    world = await make_world(await make_tenant())
    rows, bad = 6 * CHUNK_ROWS, 5 * CHUNK_ROWS
    body = _file(world.notice["id"], rows, {
        bad: f"bad,,Z,email,newsletter,{world.notice['id']},{WHEN}\n"})
    task = asyncio.ensure_future(jobs.import_file(
        context(world.tenant), parse.scan(body, "csv"), jobs.digest(body)))
    await _until_a_chunk_committed(world.tenant.id)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    stopped = await _job_row(world.tenant.id)
    assert stopped["status"] == "failed" and CHUNK_ROWS <= stopped["rows_done"] < rows, stopped
    assert f"the first {stopped['rows_done']:,} of {rows:,} rows are imported" in stopped["detail"]
    assert "send the file again" in stopped["detail"]

    answer = await client.post("/v1/imports", content=body,
                               headers={**world.tenant.headers, "Content-Type": "text/csv"})
    assert answer.status_code == 202 and answer.json()["id"] == str(stopped["id"]), answer.text
    for _ in range(3000):
        job = (await client.get(f"/v1/imports/{stopped['id']}", headers=world.tenant.headers)).json()
        if job["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.02)
    await asyncio.gather(*jobs._tasks)
    assert (job["status"], job["created"], job["updated"], job["rejected"]) == (
        "done", rows - 1, 0, 1), job
    assert [e["line"] for e in job["errors"]] == [bad + 2]
    assert await tenant_counts(world.tenant.id) == (rows, rows, 1)
    assert await _verified(client, world.tenant) == rows
    assert await _duplicated_grants(world.tenant.id) == 0


async def test_each_chunk_is_chained_once_after_whoever_appended_before_its_lock(
        client, backend, monkeypatch):
    """Another writer of the tenant appends to the ledger just before each
    chunk locks the chain head — as the tenant's one-click unsubscribes do
    during a big import. Each chunk's events are chained once, under the
    lock, after that writer's event: nothing is hashed ahead of the lock only
    to be hashed again. Chunks of new people take the head with the feed's
    numbers (`Chain.lock_taking`); the last chunk names a stored person and
    takes it the long way (`Chain.lock`). The ledger verifies, with the other
    writer's events between the chunks' and every grant of the file once.
    On SQLite a chunk's write transaction holds the file from its start, so
    nobody writes in between: the chunks are chained once each all the same."""
    world = await make_world(await make_tenant())
    stored = await make_contact(world.tenant, email="stored@example.com")
    chained: list[int] = []
    real_chained = chain.chained
    monkeypatch.setattr(chain, "chained", lambda events, *head: chained.append(len(events))
                        or real_chained(events, *head))
    appended: list[int] = []
    taken: list[str] = []
    if backend == "postgres":
        turns: asyncio.Queue = asyncio.Queue()
        done: asyncio.Queue = asyncio.Queue()

        async def other_writer():  # a task of its own, outside the chunks' transactions
            while True:
                await turns.get()
                await grant(world.tenant, world.contact["id"], world.notice["id"])
                appended.append(1)
                done.put_nowait(None)

        def after_another_writer(real):
            async def locking(self, *args):
                if asyncio.current_task() is not writing:  # (the other writer locks too)
                    taken.append(real.__name__)
                    turns.put_nowait(None)
                    await done.get()
                return await real(self, *args)
            return locking

        writing = asyncio.ensure_future(other_writer())
        monkeypatch.setattr(chain.Chain, "lock_taking", after_another_writer(chain.Chain.lock_taking))
        monkeypatch.setattr(chain.Chain, "lock", after_another_writer(chain.Chain.lock))
    chunks = 6
    body = _file(world.notice["id"], chunks * CHUNK_ROWS + 10,
                 {chunks * CHUNK_ROWS + 9: f"{stored['email']},,S,email,newsletter,"
                                           f"{world.notice['id']},{WHEN}\n"})
    try:
        report = await _imported(world, body)
    finally:
        if backend == "postgres":
            writing.cancel()
    assert (report.created, report.updated, report.rejected) == (chunks * CHUNK_ROWS + 9, 1, 0)
    if backend == "postgres":
        assert taken == ["lock_taking"] * chunks + ["lock"] and len(appended) == chunks + 1
    assert sorted(n for n in chained if n > 1) == [10] + [CHUNK_ROWS] * chunks, chained
    assert await _verified(client, world.tenant) == 1 + chunks * CHUNK_ROWS + 10 + len(appended)
    assert await _duplicated_grants(world.tenant.id) == 0
    async with db.tenant_transaction(world.tenant.id, write=False):
        order = [r["by_import"] for r in await db.fetch(
            "SELECT contact_id <> {} AS by_import FROM consent_event WHERE tenant_id = {}"
            " AND seq > 1 ORDER BY seq", uuid.UUID(world.contact["id"]), world.tenant.id)]
    runs = [order[0]] + [b for a, b in zip(order, order[1:]) if a != b]
    # the other writer's event, then a chunk's events, turn by turn
    assert runs == [False, True] * len(appended) if appended else runs == [True], runs


async def test_the_first_chunks_of_an_import_plan_their_key_checks_again(client, backend, monkeypatch):
    """A plan cached while the tenant tables were small may check a key
    through another index on tenant_id and read the tenant's whole index for
    each row (Writer.replan): a run's first chunks drop their connection's
    cached plans, later ones keep them (planning again costs each chunk a few
    milliseconds). SQLite caches no plan across statements that matters here."""
    world = await make_world(await make_tenant())
    sent = []
    execute = db.execute

    async def spied(text, *args, **named):
        sent.append(text)
        return await execute(text, *args, **named)

    monkeypatch.setattr(db, "execute", spied)
    chunks = write.REPLANNED_CHUNKS + 2
    body = _file(world.notice["id"], chunks * CHUNK_ROWS, {})
    report = await _imported(world, body)
    assert report.created == chunks * CHUNK_ROWS
    expected = write.REPLANNED_CHUNKS if backend == "postgres" else 0
    assert sent.count("DISCARD PLANS") == expected
    assert await _verified(client, world.tenant) == 1 + chunks * CHUNK_ROWS


async def test_people_named_again_in_later_chunks_are_matched_not_created_again(client, backend):
    """A chunk is worked out ahead as if it named nobody stored (PostgreSQL,
    while the previous chunk is written): one naming a person an earlier chunk
    created, or naming someone twice, must come out as if matched in order."""
    world = await make_world(await make_tenant())
    notice, later = world.notice["id"], "2026-01-16T10:00:00Z"
    lines = [HEADER]
    lines += [f"a{i}@example.com,,A{i},email,newsletter,{notice},{WHEN}\n" for i in range(CHUNK_ROWS)]
    lines.append(f"a5@example.com,,A5,email,newsletter,{notice},{later}\n")  # chunk 2: stored
    lines += [f"b{i}@example.com,,B{i},email,newsletter,{notice},{WHEN}\n"
              for i in range(CHUNK_ROWS - 1)]
    lines += [f"b0@example.com,,B0,email,newsletter,{notice},{WHEN}\n",  # chunk 3: known grant
              f"c0@example.com,,C0,email,newsletter,{notice},{WHEN}\n",
              f"c0@example.com,,C0,email,newsletter,{notice},{later}\n"]  # twice in its chunk
    body = "".join(lines).encode()
    report = await _imported(world, body)
    assert (report.created, report.updated, report.rejected) == (2 * CHUNK_ROWS, 3, 0)
    contacts, events, _ = await tenant_counts(world.tenant.id)
    assert (contacts, events) == (1 + 2 * CHUNK_ROWS, 1 + 2 * CHUNK_ROWS + 2)
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS + 2
    assert await _duplicated_grants(world.tenant.id) == 0


async def test_a_person_named_in_two_slices_of_a_chunk_worked_out_ahead_is_one_contact(
        client, backend):
    """Working a chunk out ahead (PostgreSQL) goes runner.AHEAD_ROWS rows at a
    time, the event loop free in between: a person named again a few slices
    later in the same chunk is merged as if the chunk were matched in one go,
    and their last activity is the later consent's."""
    world = await make_world(await make_tenant())
    notice, later = world.notice["id"], "2026-01-16T10:00:00Z"
    lines = [HEADER]
    lines += [f"d{i}@example.com,,D{i},email,newsletter,{notice},{WHEN}\n"
              for i in range(2 * CHUNK_ROWS - 1)]
    # the last row of the second chunk (worked out ahead), in its last slice
    lines.append(f"d{CHUNK_ROWS}@example.com,,D,email,newsletter,{notice},{later}\n")
    report = await _import_lines(world, lines)
    assert (report.created, report.updated, report.rejected) == (2 * CHUNK_ROWS - 1, 1, 0)
    contacts, events, _ = await tenant_counts(world.tenant.id)
    assert (contacts, events) == (1 + 2 * CHUNK_ROWS - 1, 1 + 2 * CHUNK_ROWS)
    person = await _person(world.tenant.id, f"d{CHUNK_ROWS}@example.com")
    assert person["first_name"] == "D"
    assert person["last_activity_at"].isoformat().startswith("2026-01-16T10:00:00")
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS
    assert await _duplicated_grants(world.tenant.id) == 0
    # every grant leads its state (the later one of the person named twice)
    assert await _feed_numbers(world.tenant.id) == (1 + 2 * CHUNK_ROWS - 1,) * 3


async def test_a_chunk_naming_someone_two_chunks_back_waits_for_the_one_before(
        client, backend):
    """On PostgreSQL a chunk of new people is written while the chunk before
    it finishes. One whose matching read finds a person stored two chunks
    back waits for that chunk's commit, then is matched as in a serial run:
    the person is updated, not created again, and no grant is doubled."""
    world = await make_world(await make_tenant())
    notice, later = world.notice["id"], "2026-01-16T10:00:00Z"
    lines = [HEADER]
    for prefix in "ab":
        lines += [f"{prefix}{i}@example.com,,{prefix}{i},email,newsletter,{notice},{WHEN}\n"
                  for i in range(CHUNK_ROWS)]
    lines.append(f"a7@example.com,,A7,email,newsletter,{notice},{later}\n")  # chunk 3: stored
    lines += [f"c{i}@example.com,,C{i},email,newsletter,{notice},{WHEN}\n"
              for i in range(CHUNK_ROWS - 1)]
    report = await _import_lines(world, lines)
    assert (report.created, report.updated, report.rejected) == (3 * CHUNK_ROWS - 1, 1, 0)
    contacts, events, _ = await tenant_counts(world.tenant.id)
    assert (contacts, events) == (1 + 3 * CHUNK_ROWS - 1, 1 + 3 * CHUNK_ROWS)
    person = await _person(world.tenant.id, "a7@example.com")
    assert person["first_name"] == "A7"
    assert person["last_activity_at"].isoformat().startswith("2026-01-16T10:00:00")
    assert await _verified(client, world.tenant) == 1 + 3 * CHUNK_ROWS
    assert await _duplicated_grants(world.tenant.id) == 0
    assert await _feed_numbers(world.tenant.id) == (1 + 3 * CHUNK_ROWS,) * 3


async def test_a_chunk_the_database_refuses_takes_the_chunk_behind_it_down_too(
        client, backend, monkeypatch):
    """A rule the database holds (added here by the owner: a constraint, NOT
    VALID, on PostgreSQL; a trigger on SQLite) refuses one change-feed row of the fourth chunk — the last statement of
    that chunk, while the fifth is being written behind it on PostgreSQL.
    Neither commits: the job stands at three chunks, the tables hold exactly
    those, and the ledger verifies. Once the constraint is gone, the same file
    resumes and ends as one uninterrupted run would."""
    world = await make_world(await make_tenant())
    rows = 6 * CHUNK_ROWS
    body = _file(world.notice["id"], rows, {})
    refused = 1 + 3 * CHUNK_ROWS + CHUNK_ROWS // 2  # the world's grant is change 1
    written_behind: list[int] = []
    real_behind = runner._behind

    async def noted(ctx, job_id, writer, before, this, *args):
        written_behind.append(this.upto)
        return await real_behind(ctx, job_id, writer, before, this, *args)

    monkeypatch.setattr(runner, "_behind", noted)
    refuse, allow = {
        "postgres": (f"ALTER TABLE change_log ADD CONSTRAINT test_refused CHECK (seq <> {refused})"
                     " NOT VALID", "ALTER TABLE change_log DROP CONSTRAINT test_refused"),
        "sqlite": (f"CREATE TRIGGER test_refused BEFORE INSERT ON change_log WHEN NEW.seq = {refused}"
                   " BEGIN SELECT RAISE(ABORT, 'test_refused'); END", "DROP TRIGGER test_refused"),
    }[backend]
    async with as_owner():
        await db.execute(refuse)
    try:
        with pytest.raises(Exception, match="test_refused"):
            await _imported(world, body)
    finally:
        async with as_owner():
            await db.execute(allow)
    if backend == "postgres":
        assert written_behind and written_behind[0] == 2 * CHUNK_ROWS, written_behind
    else:
        assert written_behind == []
    job = await _job_row(world.tenant.id)
    assert (job["status"], job["rows_done"], job["created"]) == (
        "failed", 3 * CHUNK_ROWS, 3 * CHUNK_ROWS), job
    assert await tenant_counts(world.tenant.id) == (1 + 3 * CHUNK_ROWS, 1 + 3 * CHUNK_ROWS, 1)
    assert await _verified(client, world.tenant) == 1 + 3 * CHUNK_ROWS
    assert await _feed_numbers(world.tenant.id) == (1 + 3 * CHUNK_ROWS,) * 3

    job_id, report, resumed = await jobs.import_file(
        context(world.tenant), parse.scan(body, "csv"), jobs.digest(body))
    assert resumed and job_id == job["id"]
    assert (report.created, report.updated, report.rejected) == (rows, 0, 0)
    assert await tenant_counts(world.tenant.id) == (1 + rows, 1 + rows, 1)
    assert await _verified(client, world.tenant) == 1 + rows
    assert await _duplicated_grants(world.tenant.id) == 0
    assert await _feed_numbers(world.tenant.id) == (1 + rows,) * 3


async def test_a_chunk_behind_never_takes_the_ledger_before_the_one_ahead_of_it(
        client, backend, monkeypatch):
    """The first chunk is held up just before it locks the chain head, long
    enough for the second, written behind it on PostgreSQL, to reach its own
    lock first. The second waits for the first's commit (were it to lock the
    head first, each would wait for the other for ever), so the ledger holds
    the file's rows in file order."""
    world = await make_world(await make_tenant())
    held: list[int] = []
    real_lock = chain.Chain.lock_taking

    async def slow_first(self, changes):
        if not held:
            held.append(changes)
            await asyncio.sleep(0.5)
        return await real_lock(self, changes)

    monkeypatch.setattr(chain.Chain, "lock_taking", slow_first)
    body = _file(world.notice["id"], 3 * CHUNK_ROWS, {})
    _, report, _ = await asyncio.wait_for(jobs.import_file(
        context(world.tenant), parse.scan(body, "csv"), jobs.digest(body)), 60)
    assert held == ([CHUNK_ROWS] if backend == "postgres" else []) and report.created == 3 * CHUNK_ROWS
    async with db.tenant_transaction(world.tenant.id, write=False):
        names = [r["first_name"] for r in await db.fetch(
            "SELECT c.first_name FROM consent_event e JOIN contact c ON c.tenant_id = e.tenant_id"
            " AND c.id = e.contact_id WHERE e.tenant_id = {} AND c.email LIKE 'good%' ORDER BY e.seq",
            world.tenant.id)]
    assert names == [f"G{i}" for i in range(3 * CHUNK_ROWS)]
    assert await _verified(client, world.tenant) == 1 + 3 * CHUNK_ROWS
    assert await _feed_numbers(world.tenant.id) == (1 + 3 * CHUNK_ROWS,) * 3


async def test_the_same_file_sent_again_while_it_is_imported_is_written_by_one_run(
        client, backend):
    """An integrator retrying a big upload, or an operator running the same
    command twice: the second run of the job finds the first one writing it.
    On PostgreSQL it stops at once (the run's lock, `db.exclusive`); on SQLite
    whichever run finds `rows_done` moved under its chunk stops. Either way
    one run writes every chunk once: exact counts, no grant twice."""
    world = await make_world(await make_tenant())
    rows = 40 * CHUNK_ROWS
    body = _file(world.notice["id"], rows, {})
    ctx = context(world.tenant)
    first = asyncio.ensure_future(jobs.import_file(ctx, parse.scan(body, "csv"), jobs.digest(body)))
    await _until_a_chunk_committed(world.tenant.id)
    assert not first.done(), "the first run ended before the second began"
    second = asyncio.ensure_future(jobs.import_file(ctx, parse.scan(body, "csv"), jobs.digest(body)))
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    stopped = [o for o in outcomes if isinstance(o, runner.Superseded)]
    finished = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(stopped) == 1 and len(finished) == 1, outcomes
    if backend == "postgres":
        assert isinstance(outcomes[1], runner.Superseded), outcomes
        assert "being written by another process" in str(outcomes[1])
    job = await _job_row(world.tenant.id)
    assert (job["status"], job["rows_done"], job["created"], job["updated"]) == (
        "done", rows, rows, 0), job
    assert await tenant_counts(world.tenant.id) == (1 + rows, 1 + rows, 1)
    assert await _verified(client, world.tenant) == 1 + rows
    assert await _duplicated_grants(world.tenant.id) == 0
    assert await _feed_numbers(world.tenant.id) == (1 + rows,) * 3


async def _insert_then_commit(other, tenant_id) -> None:
    """The other writer's last statement and its end, as a request's."""
    try:
        await other.execute(
            "INSERT INTO contact (id, tenant_id, email, attributes, created_at, updated_at)"
            " VALUES ($1, $2, 'b0@example.com', '{}', now(), now())", uuid.uuid4(), tenant_id)
    except BaseException:
        await other.execute("ROLLBACK")
        raise
    await other.execute("COMMIT")


async def test_a_cycle_through_another_writer_is_broken_by_the_database_not_hung(
        backend, client, monkeypatch):
    """PostgreSQL. The first chunk names a stored person P; the second, written
    behind it, has inserted its new contacts. Another writer W updates P, then
    inserts an e-mail the second chunk holds uncommitted (it waits for that
    chunk), and the first chunk's upsert of P waits for W. The second chunk
    waits for the first in the database (an advisory lock, `_Before`), so the
    cycle is one PostgreSQL's deadlock detector sees: one side fails within
    seconds instead of all three waiting for ever. Whatever failed, the file
    resumes into an intact ledger."""
    if backend != "postgres":
        pytest.skip("row locks and the deadlock detector are PostgreSQL's")
    world = await make_world(await make_tenant())
    notice, tenant_id = world.notice["id"], world.tenant.id
    stored = await make_contact(world.tenant, email="stored@example.com")
    lines = [HEADER, f"stored@example.com,,P,email,newsletter,{notice},{WHEN}\n"]
    lines += [f"a{i}@example.com,,A{i},email,newsletter,{notice},{WHEN}\n"
              for i in range(CHUNK_ROWS - 1)]
    lines += [f"b{i}@example.com,,B{i},email,newsletter,{notice},{WHEN}\n"
              for i in range(CHUNK_ROWS)]
    body = "".join(lines).encode()
    second_waits = asyncio.Event()
    other = await asyncpg.connect(databases.POSTGRES_URL)
    await other.execute("SELECT set_config('app.tenant_id', $1, false)", str(tenant_id))
    inserting: list[asyncio.Future] = []
    real_write = write.Writer._write_postgres

    async def with_another_writer(self, ledger, contacts, events, now, digested=None,
                                  fresh=False, behind=None):
        if behind is not None:  # the second chunk, its contacts in: it waits for the first
            async def waiting():
                second_waits.set()
                return await behind()
            return await real_write(self, ledger, contacts, events, now, digested, fresh, waiting)
        if not fresh and not inserting:  # the first chunk, matched: it names P
            await other.execute("BEGIN")
            # (what reaches the shards on Citus too: messages of their own)
            await other.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            await other.execute(f"SET LOCAL app.tenant_id = '{tenant_id}'")
            await other.execute("UPDATE contact SET first_name = 'W' WHERE tenant_id = $1"
                                " AND id = $2", tenant_id, uuid.UUID(str(stored["id"])))
            await asyncio.wait_for(second_waits.wait(), 30)
            inserting.append(asyncio.ensure_future(_insert_then_commit(other, tenant_id)))
            await asyncio.sleep(0.5)  # W waits for the second chunk
        return await real_write(self, ledger, contacts, events, now, digested, fresh, behind)

    real_existing = write.Writer._existing

    async def matched_late(self, rows):
        if not second_waits.is_set() and rows[0].values.get("email") == "stored@example.com":
            await asyncio.sleep(0.3)  # the second chunk is worked out ahead meanwhile
        return await real_existing(self, rows)

    monkeypatch.setattr(write.Writer, "_existing", matched_late)
    monkeypatch.setattr(write.Writer, "_write_postgres", with_another_writer)
    run = asyncio.ensure_future(jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                                 jobs.digest(body)))
    try:
        finished, _ = await asyncio.wait({run}, timeout=30)
        assert finished, "the import and the other writer wait for each other for ever"
        failures = [f for f in (run.exception(), *[
            (await asyncio.gather(i, return_exceptions=True))[0] for i in inserting])
            if isinstance(f, BaseException)]
        assert len(failures) == 1 and "deadlock" in str(failures[0]), failures
    finally:
        await other.close()
        if not run.done():
            run.cancel()
    monkeypatch.setattr(write.Writer, "_write_postgres", real_write)
    monkeypatch.setattr(write.Writer, "_existing", real_existing)
    if run.exception() is not None:  # the import was the side that failed: the file resumes
        await _imported(world, body)
    assert await tenant_counts(tenant_id) == (1 + 2 * CHUNK_ROWS, 1 + 2 * CHUNK_ROWS, 1)
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS
    assert await _duplicated_grants(tenant_id) == 0
