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

from consent import tokens
from consent.imports import jobs, parse
from consent.ledger import chain
from optinbase import db
from optinbase.settings import get_settings
from tests.consent.imports.test_cli_import import CHUNK_ROWS, tenant_counts, write_csv
from tests.factories import context, make_contact, make_tenant, make_world
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
    lock (chain.Chain.lock_after_taking), which must leave no gap nor twin."""
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
    # Between two chunks of the import, after those committed before the progress line.
    assert 1 + 2 * CHUNK_ROWS <= int(seqs["withdrawal"]) < int(seqs["last"]), dict(seqs)


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
    assert job["status"] == "running" and done % CHUNK_ROWS == 0 and 8 * CHUNK_ROWS <= done < ROWS, job
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
    for _ in range(3000):
        await asyncio.sleep(0.01)
        async with db.tenant_transaction(world.tenant.id, write=False):
            done = await db.fetchval("SELECT max(rows_done) FROM import_job WHERE tenant_id = {}",
                                     world.tenant.id)
        if done:
            break
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


async def test_a_chunk_sealed_ahead_of_another_writer_is_chained_after_it(
        client, backend, monkeypatch):
    """On PostgreSQL a chunk's events are sealed from the chain head read
    unlocked, while the contacts go in. Here every read is one event behind,
    as if a writer had appended before the head was locked: each chunk is
    chained again after the locked head, and the ledger verifies with every
    grant once."""
    world = await make_world(await make_tenant())
    real_head = chain.head

    async def behind(tenant_id):
        seq, prev = await real_head(tenant_id)
        return (seq - 1, "f" * 64) if seq else (seq, prev)

    chained_again = []
    rechain = chain.rechain
    monkeypatch.setattr(chain, "head", behind)
    monkeypatch.setattr(chain, "rechain", lambda rows, *head: chained_again.append(len(rows))
                        or rechain(rows, *head))
    body = _file(world.notice["id"], 2 * CHUNK_ROWS + 10, {})
    _, report, _ = await jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                          jobs.digest(body))
    assert (report.created, report.rejected) == (2 * CHUNK_ROWS + 10, 0)
    # Sealing chains once; PostgreSQL chains each chunk a second time, after the
    # locked head. SQLite locks the head before sealing (its write transaction
    # holds the file anyway).
    once = [CHUNK_ROWS, CHUNK_ROWS, 10]
    assert chained_again == ([n for n in once for _ in "ab"] if backend == "postgres" else once)
    monkeypatch.setattr(chain, "head", real_head)
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS + 10
    assert await _duplicated_grants(world.tenant.id) == 0
    assert await _feed_numbers(world.tenant.id) == (1 + 2 * CHUNK_ROWS + 10,) * 3


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
    _, report, _ = await jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                          jobs.digest(body))
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
    body = "".join(lines).encode()
    _, report, _ = await jobs.import_file(context(world.tenant), parse.scan(body, "csv"),
                                          jobs.digest(body))
    assert (report.created, report.updated, report.rejected) == (2 * CHUNK_ROWS - 1, 1, 0)
    contacts, events, _ = await tenant_counts(world.tenant.id)
    assert (contacts, events) == (1 + 2 * CHUNK_ROWS - 1, 1 + 2 * CHUNK_ROWS)
    async with db.tenant_transaction(world.tenant.id, write=False):
        person = await db.fetchrow(
            "SELECT first_name, last_activity_at FROM contact WHERE tenant_id = {} AND email = {}",
            world.tenant.id, f"d{CHUNK_ROWS}@example.com")
    assert person["first_name"] == "D"
    assert person["last_activity_at"].isoformat().startswith("2026-01-16T10:00:00")
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS
    assert await _duplicated_grants(world.tenant.id) == 0
    # every grant leads its state (the later one of the person named twice)
    assert await _feed_numbers(world.tenant.id) == (1 + 2 * CHUNK_ROWS - 1,) * 3
