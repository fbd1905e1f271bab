"""Everything a database holds, as bytes, for tests that promise something is
NOT there (erasure): a search that cannot see a value proves nothing, so
callers also check that the value is found before.

* SQLite: the main file, its WAL and rollback journal as they lie on disk
  (deleted rows live on in free pages unless `secure_delete` zeroed them),
  plus `.dump`'s text.
* PostgreSQL: `pg_dump` run as the owner role of the test database. Row-level
  security is forced on tenant tables, so the owner dumps with
  `--enable-row-security` and the tenant set (`app.tenant_id`, as a request
  sets it): every row of that tenant, every global table. The exit code is
  checked: a failed dump is empty, and empty contains nothing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

from tests import databases


def whole_database(database_url: str, tenant_id: uuid.UUID) -> bytes:
    if database_url.startswith("sqlite:///"):
        return _sqlite(Path(database_url[len("sqlite:///"):]))
    return _postgres(tenant_id)


def _sqlite(path: Path) -> bytes:
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
                   if p.exists())
    conn = sqlite3.connect(path)
    try:
        text = "\n".join(conn.iterdump())
    finally:
        conn.close()
    return raw + text.encode()


def _postgres(tenant_id: uuid.UUID) -> bytes:
    env = {**os.environ, "PGOPTIONS": f"-c app.tenant_id={tenant_id}"}
    done = subprocess.run(
        ["pg_dump", "--no-owner", "--enable-row-security", databases.POSTGRES_OWNER_URL],
        capture_output=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"COPY public.consent_event" in done.stdout
    return done.stdout


def leaks(dump: bytes, needles: list[str]) -> list[str]:
    """The needles found in the dump, whatever their case."""
    haystack = dump.lower()
    return [n for n in needles if n.lower().encode() in haystack]
