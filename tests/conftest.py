"""Shared fixtures: one migrated database per backend for the session; every test
builds its own tenants (tests/factories.py), so tests never see each other's rows."""

from __future__ import annotations

import os

# OWASP's minimum argon2id parameters: still argon2id, six times cheaper per key.
os.environ.setdefault("ARGON2_PROFILE", "owasp-minimum")

import tempfile
from pathlib import Path

# Ledger checkpoints of in-process tests: a key and a log of this run, never
# files beside ./optinbase.sqlite3 (subprocess tests set their own).
_LEDGER = Path(tempfile.mkdtemp(prefix="optinbase-ledger-"))
os.environ.setdefault("LEDGER_CHECKPOINT_DIR", str(_LEDGER / "checkpoints"))
if not os.environ.get("LEDGER_SIGNING_KEY"):
    from optinbase import ed25519

    ed25519.load_or_create(_LEDGER / "signing-key.pem")
    os.environ["LEDGER_SIGNING_KEY"] = str(_LEDGER / "signing-key.pem")

from typing import AsyncIterator

import httpx
import pytest

from optinbase import db
from tests import databases

BACKENDS = ["sqlite", "postgres"]
_engines: dict[str, tuple[object, str]] = {}


async def _engine_for(backend: str):
    if backend not in _engines:
        if backend == "postgres":
            if not databases.POSTGRES_URL:
                if databases.IN_CI:
                    pytest.fail("CI=true but TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
                pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (see README, Testing)")
            _engines[backend] = await databases.migrated_postgres()
        else:
            _engines[backend] = await databases.migrated_sqlite()
    return _engines[backend]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Runs the test on SQLite and on PostgreSQL (as the application role, RLS on)."""
    engine, _ = await _engine_for(request.param)
    db.use_engine(engine)
    await db.start(engine)
    yield request.param
    await db.stop(engine)


@pytest.fixture
def database_url(backend: str) -> str:
    return _engines[backend][1]


@pytest.fixture
async def client(backend: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this event loop (the `backend` fixture started the pool here;
    Litestar's own test client would run the app in another loop)."""
    from api.app import create_app

    transport = httpx.ASGITransport(app=create_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client
