"""`optinbase ledger checkpoint` and `optinbase ledger verify` as real
processes, against the database of the `backend` fixture, attacked from
outside the application: a raw sqlite3 connection or the PostgreSQL owner
role, guard triggers off, as whoever runs the database would."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from optinbase import db
from tests import databases, processes
from tests.consent.test_checkpoints import rewrite_from, withdraw
from tests.factories import make_tenant, make_world

Query = Callable[..., Awaitable[list[Any]]]


def optinbase(workdir: Path, database_url: str, *args: str, **env: str
              ) -> subprocess.CompletedProcess:
    """The installed command, with the development defaults: key and log
    beside the SQLite file, or in the working directory on PostgreSQL."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("LEDGER_", "DATABASE_")) and k not in (
                 "SECRET_KEY", "OPTINBASE_ENV", "OPTINBASE_DB_ROLE")}
    clean.update(DATABASE_URL=database_url, SECRET_KEY_FILE=str(workdir / "secret"), **env)
    return processes.optinbase(*args, env=clean, cwd=workdir)


def log_dir(backend: str, database_url: str, workdir: Path) -> Path:
    if backend == "sqlite":
        return Path(database_url.removeprefix("sqlite:///")).parent / "ledger-checkpoints"
    return workdir / "ledger-checkpoints"


@contextlib.asynccontextmanager
async def raw_dba(backend: str, database_url: str, tenant_id: uuid.UUID) -> AsyncIterator[Query]:
    """One committed transaction on a connection the application never made,
    with the ledger's guard off (re-armed before commit: the file and the
    database are shared with the other tests)."""
    engine = "postgres" if backend == "postgres" else "sqlite"
    if backend == "sqlite":
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                                " AND tbl_name = 'consent_event'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")

        async def query(sql: str, *args: Any) -> list[Any]:
            args = tuple(str(a) if isinstance(a, uuid.UUID) else a for a in args)
            return conn.execute(db.compile_sql(sql, engine), args).fetchall()

        try:
            yield query
            for _, sql in triggers:
                conn.execute(sql)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    conn = await asyncpg.connect(databases.POSTGRES_OWNER_URL)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
            await conn.execute("ALTER TABLE consent_event DISABLE TRIGGER consent_event_guard")

            async def query(sql: str, *args: Any) -> list[Any]:
                return await conn.fetch(db.compile_sql(sql, engine), *args)

            yield query
            await conn.execute("ALTER TABLE consent_event ENABLE TRIGGER consent_event_guard")
    finally:
        await conn.close()


async def delete_the_withdrawal(query: Query, tenant_id: uuid.UUID, contact_id: str) -> None:
    [last] = await query("SELECT id, seq, action FROM consent_event WHERE tenant_id = {}"
                         " ORDER BY seq DESC LIMIT 1", tenant_id)
    assert last[2] == "withdrawn"
    [before] = await query("SELECT id, seq, hash, collected_at FROM consent_event"
                           " WHERE tenant_id = {} AND seq = {}", tenant_id, last[1] - 1)
    await query("UPDATE consent_state SET status = 'granted', event_id = {}, since = {}"
                " WHERE tenant_id = {} AND contact_id = {}",
                before[0], before[3], tenant_id, uuid.UUID(contact_id))
    await query("DELETE FROM consent_event WHERE tenant_id = {} AND id = {}", tenant_id, last[0])
    await query("UPDATE ledger_head SET seq = {}, hash = {} WHERE tenant_id = {}",
                before[1], before[2], tenant_id)


async def test_cli_verify_names_the_checkpoint_a_truncation_contradicts(
        client, backend, database_url, tmp_path):
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    slug, tenant_id = world.tenant.slug, world.tenant.id

    published = optinbase(tmp_path, database_url, "ledger", "checkpoint", "--tenant", slug)
    assert published.returncode == 0, published.stderr
    logs = log_dir(backend, database_url, tmp_path)
    assert f"{slug}: checkpoint seq 2" in published.stdout and str(logs) in published.stdout
    log = logs / f"{tenant_id}.jsonl"
    [line] = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["seq"] == 2 and line["tenant_id"] == str(tenant_id)
    assert (log.parent.parent / ".optinbase-ledger-key").exists()  # generated beside it

    fine = optinbase(tmp_path, database_url, "ledger", "verify", "--tenant", slug)
    assert fine.returncode == 0 and "2 events verified, 1 checkpoints checked" in fine.stdout
    assert fine.stderr == ""

    async with raw_dba(backend, database_url, tenant_id) as query:
        await delete_the_withdrawal(query, tenant_id, world.contact["id"])
    # Nor will the command sign the forged head.
    refused = optinbase(tmp_path, database_url, "ledger", "checkpoint", "--tenant", slug)
    assert refused.returncode == 1 and "checkpoint seq 2" in refused.stderr, refused.stderr
    assert len(log.read_text().splitlines()) == 1

    broken = optinbase(tmp_path, database_url, "ledger", "verify", "--tenant", slug)
    assert broken.returncode == 1, broken.stdout
    [message] = broken.stderr.strip().splitlines()
    assert f"checkpoint seq 2 signed at {line['at']} (line 1 of {log})" in message
    assert "ledger ends at event 1" in message and "truncation" in message


async def test_cli_verify_without_a_checkpoint_says_what_it_cannot_see(
        client, backend, database_url, tmp_path):
    """Intact, but with no checkpoint behind it a cut end would verify too:
    the command still passes, and says so."""
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    checked = optinbase(tmp_path, database_url, "ledger", "verify", "--tenant", world.tenant.slug)
    assert checked.returncode == 0, checked.stderr
    assert "2 events verified, 0 checkpoints checked" in checked.stdout
    assert checked.stderr.startswith("warning: no checkpoint in ")
    assert f"ledger checkpoint --tenant {world.tenant.slug}" in checked.stderr


async def test_cli_verify_names_the_checkpoint_a_rewrite_contradicts(
        client, backend, database_url, tmp_path):
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    slug = world.tenant.slug
    every = optinbase(tmp_path, database_url, "ledger", "checkpoint")  # every tenant: those
    assert f"{slug}: checkpoint seq 2" in every.stdout  # other tests forged are refused, not this
    await rewrite_from(world.tenant.id, 1, source="https://forged.example/")  # and rehashed
    broken = optinbase(tmp_path, database_url, "ledger", "verify", "--tenant", slug)
    assert broken.returncode == 1
    assert "checkpoint seq 2" in broken.stderr and "line 1 of" in broken.stderr
    assert "rewritten" in broken.stderr


async def test_cli_verify_reports_a_tampered_checkpoint_line(
        client, backend, database_url, tmp_path):
    world = await make_world(await make_tenant())
    slug = world.tenant.slug
    assert optinbase(tmp_path, database_url, "ledger", "checkpoint", "--tenant",
                     slug).returncode == 0
    log = log_dir(backend, database_url, tmp_path) / f"{world.tenant.id}.jsonl"
    line = json.loads(log.read_text())
    log.write_text(json.dumps({**line, "hash": "0" * 64}) + "\n")
    broken = optinbase(tmp_path, database_url, "ledger", "verify", "--tenant", slug)
    assert broken.returncode == 1
    assert "line 1 of" in broken.stderr and "bad signature" in broken.stderr


@pytest.mark.parametrize("env, reason", [
    ({"OPTINBASE_ENV": "production", "SECRET_KEY": "s" * 40, "SMTP_URL": "smtp://mail.example:587"},
     "LEDGER_SIGNING_KEY is required"),
    ({"LEDGER_SIGNING_KEY": "not a key"}, "not an Ed25519 private key"),
    ({"LEDGER_SIGNING_KEY": "/nowhere/ledger.pem"}, "no key file at /nowhere/ledger.pem"),
])
def test_a_missing_or_bad_signing_key_stops_the_command(tmp_path, env, reason):
    result = optinbase(tmp_path, f"sqlite:///{tmp_path}/k.sqlite3", "ledger", "checkpoint", **env)
    assert result.returncode == 1
    assert result.stderr.startswith("optinbase: LEDGER_SIGNING_KEY") and reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_commands_that_write_outside_the_database_refuse_an_unwritable_directory(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    database = f"sqlite:///{tmp_path}/never-opened.sqlite3"
    for command in (["ledger", "checkpoint"], ["worker"], ["serve"]):
        refused = optinbase(tmp_path, database, *command, LEDGER_CHECKPOINT_DIR=str(blocked))
        assert refused.returncode == 1
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("optinbase: LEDGER_CHECKPOINT_DIR: ") and str(blocked) in line
    assert not (tmp_path / "never-opened.sqlite3").exists()  # refused before any work
