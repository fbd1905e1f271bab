"""Shared fixtures: one migrated database per backend for the session; every test
builds its own tenants (tests/factories.py), so tests never see each other's rows."""

from __future__ import annotations

import os

# argon2id at its test cost (tenants/passwords.py; refused in production): ~40 times
# cheaper per key and password than OWASP's minimum, the same code paths.
os.environ.setdefault("ARGON2_PROFILE", "test-only")

import tempfile
from pathlib import Path

# Ledger checkpoints of in-process tests: a key and a log of this run, never
# files beside ./optinbase.sqlite3 (subprocess tests set their own).
_LEDGER = Path(tempfile.mkdtemp(prefix="optinbase-ledger-"))
os.environ.setdefault("LEDGER_CHECKPOINT_DIR", str(_LEDGER / "checkpoints"))
os.environ.setdefault("ERASURE_JOURNAL_DIR", str(_LEDGER / "erasure-journal"))
# This test process's own development secret, never ./.optinbase-secret: on a fresh
# clone two xdist workers could each write that file, one keeping in memory a key the
# file no longer holds (links signed by one key failed against the other).
os.environ.setdefault("SECRET_KEY_FILE", str(_LEDGER / "secret-key"))
# The development mailer of in-process workers (no SMTP_URL): never ./mail.
os.environ.setdefault("MAIL_DIR", str(_LEDGER / "mail"))
# The session's database keeps mail no test server delivered: /ready must not
# call that a stalled outbox (tests/e2e/test_ready.py sets its own limit).
os.environ.setdefault("READY_OUTBOX_STALL_SECONDS", "86400")
# Imports commit by chunks of 250 rows (2,500 deployed): files of a few thousand
# rows show what a big file does chunk by chunk, at a tenth of the rows to write.
os.environ.setdefault("IMPORT_CHUNK_ROWS", "250")
if not os.environ.get("LEDGER_SIGNING_KEY"):
    from optinbase import ed25519

    ed25519.load_or_create(_LEDGER / "signing-key.pem")
    os.environ["LEDGER_SIGNING_KEY"] = str(_LEDGER / "signing-key.pem")

from typing import AsyncIterator

import httpx
import pytest

from tests import databases, processes
from tests.databases import BACKENDS


@pytest.fixture(scope="session", autouse=True)
async def _pools() -> AsyncIterator[None]:
    """The session's connection pools end with it (databases.in_use)."""
    yield
    await databases.close_all()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Runs the test on SQLite and on PostgreSQL (as the application role, RLS on)."""
    async with databases.in_use(request.param):
        yield request.param


@pytest.fixture
def database_url(backend: str) -> str:
    return databases.engines[backend][1]


@pytest.fixture
def cli_env(backend: str, tmp_path) -> dict[str, str]:
    """The environment of an `optinbase` command working on this test's database
    (management commands as the owner role, as deployed)."""
    return processes.Installation.on(backend, tmp_path).env


@pytest.fixture(scope="session")
def app():
    """Built once (tests/apps.py says why); `client` resets its state per test."""
    from api.app import create_app

    return create_app()


@pytest.fixture
async def client(backend: str, app) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this event loop (the `backend` fixture started the pool here;
    Litestar's own test client would run the app in another loop)."""
    from tests import apps

    transport = httpx.ASGITransport(app=apps.reset(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


# The modules whose tests run longest (tens of seconds each: a fuzzer, a database
# restart, servers and dumps), measured with --durations. They start first, so that
# no worker begins one of them when the others have nothing left to do; with
# `--dist worksteal` (pyproject.toml) an idle worker takes the rest of the queue.
LONG_FIRST = (
    # Not long, but first: it needs its worker's tables still small.
    "optinbase/test_import_statistics.py",
    "security/test_schemathesis.py", "faults/test_database_restart.py",
    "consent/test_backup_restore.py", "e2e/test_metrics.py", "consent/imports/test_cli_import.py",
    "consent/imports/test_jobs.py", "security/test_shared_limits_processes.py",
    "e2e/test_backup_online.py", "optinbase/test_grants.py", "e2e/test_ready.py",
    "e2e/test_ledger_under_load.py", "messaging/test_fairness.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A stable sort: each module's tests keep their order (module-scoped
    servers are started once per engine)."""
    rank = {f"tests/{path}": n for n, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
