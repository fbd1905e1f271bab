"""Backups that never bring an erased person back: back up, erase, restore the
backup, re-apply the erasure journal → the person is absent from every table
and from a whole dump, suppressed, and the ledger verifies. On SQLite with
`optinbase backup` / `optinbase restore` (online, the in-process app keeps
serving the same file); on PostgreSQL with pg_dump / pg_restore into a fresh
database and `optinbase erasures reapply`, checked through a server on it."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse, urlunparse

import httpx
import msgspec
import pytest

from consent import erasure_journal
from optinbase.settings import get_settings
from tests import databases
from tests.factories import grant, make_contact, make_notice, make_purpose, make_request, make_tenant
from tests.processes import Installation

SUPERUSER = "postgresql://postgres@127.0.0.1:5432/{}"


def _sqlite_dump(path: Path) -> bytes:
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    conn = sqlite3.connect(path)
    try:
        return raw + "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()


def _pg_dump(name: str, *args: str) -> bytes:
    result = subprocess.run(["pg_dump", "--no-owner", *args, SUPERUSER.format(name)],
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql, SUPERUSER.format("postgres")],
                   check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def _restored_postgres(dump: Path) -> Iterator[tuple[str, str]]:
    """The dump restored (as pg_restore does it, owners kept) into a fresh
    database of this test; (application URL, owner URL); dropped after."""
    name = urlparse(databases.POSTGRES_URL).path.lstrip("/") + "_restore"
    owner = urlparse(databases.POSTGRES_OWNER_URL).username
    app = urlparse(databases.POSTGRES_URL).username
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    try:
        _psql(f'GRANT CONNECT ON DATABASE "{name}" TO "{app}"')
        restored = subprocess.run(["pg_restore", "--exit-on-error", "-d", SUPERUSER.format(name),
                                   str(dump)], capture_output=True, timeout=300)
        assert restored.returncode == 0, restored.stderr
        on = lambda url: urlunparse(urlparse(url)._replace(path=f"/{name}"))  # noqa: E731
        yield on(databases.POSTGRES_URL), on(databases.POSTGRES_OWNER_URL)
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _people(tenant, notice) -> tuple[dict, dict, list[bytes]]:
    """A person with a consent (ip, user agent), and the bytes that name them."""
    mark = uuid.uuid4().hex[:10]
    # Unique (other tests' people share the database) and in an allocated mobile range.
    digits = f"12{int(mark, 16) % 10**6:06d}"
    person = {"email": f"restore.{mark}@example.org", "phone": f"+33 6 {digits}",
              "first_name": f"Aldegonde{mark}", "last_name": f"Vasquez{mark}"}
    contact = await make_contact(tenant, **person)
    await grant(tenant, contact["id"], notice["id"], ip="198.51.100.77",
                user_agent=f"RestoreAgent/{mark}")
    needles = [person["email"].encode(), f"+336{digits}".encode(), person["first_name"].encode(),
               person["last_name"].encode(), f"RestoreAgent/{mark}".encode()]
    return contact, person, needles


async def _check_erased(http: httpx.AsyncClient, tenant, contact: dict, emails: list[str]) -> None:
    h = tenant.headers
    assert (await http.get(f"/v1/contacts/{contact['id']}", headers=h)).status_code == 404
    for email in emails:
        check = (await http.get("/v1/suppressions/check", params={"email": email}, headers=h)).json()
        assert check["suppressed"] is True and check["channels"] == ["all"], (email, check)
        found = (await http.get("/v1/contacts", params={"email": email}, headers=h)).json()
        assert found["items"] == []
    verify = (await http.get("/v1/ledger/verify", headers=h)).json()
    assert verify["ok"] is True and verify["events"] >= 1, verify


REAPPLIED = " 1 contacts erased again, 2 suppressions put back"
NOTHING_LEFT = " 0 contacts erased again, 0 suppressions put back"


async def test_backup_erase_restore_reapply(client, backend, database_url, tmp_path):
    if backend == "postgres" and databases.CITUS_URL:  # pg_dump of the coordinator holds no shard
        pytest.skip("a restore of a Citus cluster is its workers' dumps too")
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    kept = await make_contact(tenant, email=f"kept.{uuid.uuid4().hex[:8]}@example.org")
    contact, person, needles = await _people(tenant, notice)
    install = Installation.on(backend, tmp_path)
    backup = tmp_path / ("backup.sqlite3" if backend == "sqlite" else "backup.dump")
    if backend == "sqlite":
        install.cli("backup", str(backup))
        assert all(n in _sqlite_dump(backup) for n in needles)  # the backup holds the person
    else:
        name = urlparse(databases.POSTGRES_URL).path.lstrip("/")
        backup.write_bytes(_pg_dump(name, "-Fc"))

    # After the backup: the person is erased; a second one arrives and is
    # erased too; an erasure request names an address the base never held.
    assert (await client.delete(f"/v1/contacts/{contact['id']}", headers=tenant.headers)
            ).status_code == 204
    later = await make_contact(tenant, email=f"later.{uuid.uuid4().hex[:8]}@example.org")
    assert (await client.delete(f"/v1/contacts/{later['id']}", headers=tenant.headers)
            ).status_code == 204
    stranger = f"stranger.{uuid.uuid4().hex[:8]}@example.org"
    request = await make_request(tenant, stranger, kind="erasure", identity_verified=True)
    done = await client.post(f"/v1/requests/{request['id']}/complete", json={},
                             headers=tenant.headers)
    assert done.status_code == 200, done.text

    journal = erasure_journal.path_for(tenant.id).read_bytes()
    assert len(journal.splitlines()) == 3
    for clear in (person["email"], later["email"], stranger, needles[1].decode()):
        assert clear.encode() not in journal  # keyed hashes only
    assert erasure_journal.was_erased(tenant.id, "email", person["email"])
    assert not erasure_journal.was_erased(tenant.id, "email", kept["email"])

    if backend == "sqlite":
        restored = install.cli("restore", str(backup))
        assert REAPPLIED in restored, restored
        path = Path(database_url[len("sqlite:///"):])
        assert [n for n in needles if n in _sqlite_dump(path)] == []
        await _check_erased(client, tenant, contact, [person["email"], later["email"], stranger])
        assert (await client.get(f"/v1/contacts/{kept['id']}", headers=tenant.headers)
                ).status_code == 200
        again = install.cli("erasures", "reapply")
        assert NOTHING_LEFT in again, again
        return

    with _restored_postgres(backup) as (app_url, owner_url):
        restored_name = urlparse(app_url).path.lstrip("/")
        assert all(n in _pg_dump(restored_name) for n in needles)  # the restore brought them back
        other = Installation(tmp_path, app_url, owner_url)
        first = other.cli("erasures", "reapply")
        assert REAPPLIED in first, first
        assert [n for n in needles if n in _pg_dump(restored_name)] == []
        again = other.cli("erasures", "reapply")
        assert NOTHING_LEFT in again, again
        with other.serving(OUTBOX_WORKER="0") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
                await _check_erased(http, tenant, contact,
                                    [person["email"], later["email"], stranger])
                assert (await http.get(f"/v1/contacts/{kept['id']}", headers=tenant.headers)
                        ).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_backup_refuses_bad_targets(backend, tmp_path):
    install = Installation.on(backend, tmp_path)
    (tmp_path / "dir").mkdir()
    assert "is a directory" in install.run("backup", str(tmp_path / "dir")).stderr
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database" * 100)
    refused = install.run("restore", str(tmp_path / "junk.sqlite3"))
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "not a SQLite database" in refused.stderr
    empty = tmp_path / "other.sqlite3"
    sqlite3.connect(empty).execute("CREATE TABLE x (y)").connection.commit()
    refused = install.run("restore", str(empty))
    assert refused.returncode == 1 and "not an Optinbase database" in refused.stderr
    assert install.run("restore", str(tmp_path / "missing")).returncode == 1
    unmigrated = Installation(tmp_path, f"sqlite:///{tmp_path}/empty.sqlite3")
    refused = unmigrated.run("erasures", "reapply")
    assert refused.returncode == 1 and "run `optinbase migrate` first" in refused.stderr


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_backup_on_postgres_points_to_pg_dump(backend, tmp_path):
    install = Installation.on(backend, tmp_path)
    for args in (("backup", str(tmp_path / "b")), ("restore", str(tmp_path / "b"))):
        refused = install.run(*args)
        assert refused.returncode == 1 and "pg_dump" in refused.stderr, refused.stderr


def test_journal_skips_torn_and_foreign_lines(tmp_path, monkeypatch):
    # The journal's settings only: clearing the process's settings cache instead
    # let the next test read settings the session app was not built with.
    journal_here = dataclasses.replace(get_settings(), erasure_journal_dir=str(tmp_path))
    monkeypatch.setattr(erasure_journal, "get_settings", lambda: journal_here)
    tenant_id, other = uuid.uuid4(), uuid.uuid4()
    entry = erasure_journal.Entry(
        format=erasure_journal.FORMAT, tenant_id=str(other), contact_id=None, at="x",
        suppress=True, identifiers=[])
    path = erasure_journal.path_for(tenant_id)
    path.write_bytes(b'{"format": "optinbase-erasure/v1", "tenant\n'
                     + msgspec.json.encode(entry) + b"\n")
    assert list(erasure_journal.entries(tenant_id)) == []
