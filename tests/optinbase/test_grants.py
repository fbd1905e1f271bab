"""The application role's rights come from one file, sql/grants.sql, re-applied
by every `optinbase migrate`: what it does not grant, the role does not have."""

from __future__ import annotations

from urllib.parse import urlparse

import asyncpg
import pytest

from optinbase import schema
from tests import databases
from tests.factories import as_owner, make_tenant

RIGHTS = """
SELECT table_name, privilege_type, NULL AS column_name FROM information_schema.role_table_grants
 WHERE grantee = $1 AND table_schema = 'public'
UNION
SELECT table_name, privilege_type, column_name FROM information_schema.column_privileges
 WHERE grantee = $1 AND table_schema = 'public'
   AND NOT EXISTS (SELECT FROM information_schema.role_table_grants t
                   WHERE t.grantee = $1 AND t.table_name = column_privileges.table_name
                     AND t.privilege_type = column_privileges.privilege_type)
"""



async def _rights(conn: asyncpg.Connection, role: str) -> set[tuple]:
    return {tuple(r) for r in await conn.fetch(RIGHTS, role)}


async def test_a_right_given_by_hand_is_gone_after_the_next_migrate(pg_owner):
    role = urlparse(databases.POSTGRES_URL).username
    before = await _rights(pg_owner, role)
    assert ("notice", "SELECT", None) in before
    assert ("notice", "DELETE", None) not in before
    await pg_owner.execute(f'GRANT DELETE, UPDATE ON notice, consent_event TO "{role}"')
    assert ("notice", "DELETE", None) in await _rights(pg_owner, role)

    async with as_owner():
        await schema.grant_app_role(role)
        await schema.grant_app_role(role)  # every run re-applies it: idempotent
    assert await _rights(pg_owner, role) == before


async def test_the_ledger_and_notices_cannot_be_rewritten_by_the_role(pg_owner):
    rights = await _rights(pg_owner, urlparse(databases.POSTGRES_URL).username)
    assert {(t, p) for t, p, c in rights if t in ("notice", "request_event")} == {
        ("notice", "SELECT"), ("notice", "INSERT"),
        ("request_event", "SELECT"), ("request_event", "INSERT"),
    }
    ledger = {(p, c) for t, p, c in rights if t == "consent_event"}
    assert ("DELETE", None) not in ledger and ("UPDATE", None) not in ledger
    assert {c for p, c in ledger if p == "UPDATE"} == {
        "contact_id", "ip", "user_agent", "pii_salt", "source"}  # format-2 sources (chain.py)


async def test_the_role_cannot_empty_the_control_plane(pg_owner):
    """TRUNCATE on agency and tenant is granted for Citus's reference-table locks
    (grants.sql); the foreign keys pointing at them make it refused all the same."""
    tenant = await make_tenant()
    app = await asyncpg.connect(databases.POSTGRES_URL)
    try:
        for statement in ("TRUNCATE agency", "TRUNCATE tenant", "TRUNCATE tenant CASCADE",
                          "TRUNCATE agency CASCADE"):
            with pytest.raises((asyncpg.FeatureNotSupportedError,
                                asyncpg.InsufficientPrivilegeError)):
                await app.execute(statement)
    finally:
        await app.close()
    assert await pg_owner.fetchval("SELECT slug FROM tenant WHERE id = $1", tenant.id) == tenant.slug
