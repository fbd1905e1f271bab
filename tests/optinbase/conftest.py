from __future__ import annotations

import asyncpg
import pytest

from tests import databases


@pytest.fixture
async def pg_owner(backend):
    """A plain connection as the owner role, for tests of PostgreSQL's own
    catalog and grants (skipped on SQLite)."""
    if backend != "postgres":
        pytest.skip("PostgreSQL's catalog and grants")
    conn = await asyncpg.connect(databases.POSTGRES_OWNER_URL)
    yield conn
    await conn.close()
