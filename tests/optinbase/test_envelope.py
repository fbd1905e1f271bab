"""The envelope is the one home of tenant transactions and contexts: facts a
newcomer can grep for, kept true by these tests."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from optinbase import db
from optinbase.context import ALL_SCOPES, ROLE_SCOPES, TenantContext

SRC = Path(__file__).resolve().parents[2] / "src"


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in SRC.rglob("*.py") if "piccolo_migrations" not in p.parts]


def test_only_the_envelope_opens_a_transaction_on_tenant_data():
    opened = re.compile(r"db\.(transaction|tenant_transaction)\(|\bPostgresTransaction\("
                        r"|\bSQLiteTransaction\(|\.transaction\(\)")
    callers = {p.relative_to(SRC).as_posix() for p, text in _sources() if opened.search(text)}
    # db defines the primitive; schema applies the role grants at migrate (no tenant data).
    assert callers - {"optinbase/db.py", "optinbase/schema.py"} == {"tenants/envelope.py"}, callers


def test_contexts_are_built_only_by_their_factories():
    built = {p.relative_to(SRC).as_posix() for p, text in _sources()
             if re.search(r"\bTenantContext\(", text)}
    assert built == {"optinbase/context.py"}, built


def test_a_context_cannot_be_built_without_saying_what_it_may_do():
    with pytest.raises(TypeError):
        TenantContext(tenant_id=uuid.uuid4(), tenant_slug="t", actor="x")  # type: ignore[call-arg]


def test_each_actor_kind_has_its_own_scopes():
    tenant = type("T", (), {"id": uuid.uuid4(), "slug": "t", "country": "FR"})()
    assert TenantContext.for_subject(tenant).scopes == frozenset()
    assert not TenantContext.for_subject(tenant).allows("contacts:read")
    viewer = TenantContext.for_staff(tenant, 1, "viewer")
    assert viewer.allows("contacts:read") and not viewer.allows("contacts:write")
    assert TenantContext.for_staff(tenant, 1, "owner").scopes == ALL_SCOPES
    assert TenantContext.for_staff(tenant, 1, "intruder").scopes == frozenset()
    assert "admin" not in TenantContext.for_system(tenant, "job").scopes
    key = TenantContext.for_api_key(tenant, "k", frozenset({"exports", "made:up"}))
    assert key.scopes == {"exports"} and key.actor == "api_key:k"
    assert set(ROLE_SCOPES) == {"viewer", "editor", "manager", "dpo", "owner"}


def test_no_function_local_imports_dodge_cycles():
    """Imports sit at the top of modules; the exceptions are listed with why."""
    allowed: set[str] = set()
    local = re.compile(r"^[ \t]+(from [\w.]+ import |import \w)", re.M)
    found = set()
    for path, text in _sources():
        body = re.sub(r'"""(?:.|\n)*?"""', "", text)  # docstrings quote code
        body = re.sub(r"^try:.*\n([ \t]+import .*\n)+except ImportError:.*\n", "", body, flags=re.M)
        if local.search(body):
            found.add(path.relative_to(SRC).as_posix())
    assert found <= allowed, found - allowed


async def test_a_setting_value_that_could_break_out_of_its_quotes_is_refused(backend):
    with pytest.raises(ValueError):
        async with db.transaction({"app.key_id": "x'; DROP TABLE tenant; --"}, write=False):
            pass
