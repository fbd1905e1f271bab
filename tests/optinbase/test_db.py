"""The data layer's transactions."""

import pytest

from optinbase import db
from tests.factories import make_tenant


async def test_a_write_cannot_join_a_read_only_transaction(backend):
    tenant = await make_tenant()
    async with db.tenant_transaction(tenant.id, write=False):
        with pytest.raises(RuntimeError, match="read-only"):
            async with db.tenant_transaction(tenant.id, write=True):
                pass
        async with db.tenant_transaction(tenant.id, write=False):  # reads may join
            assert await db.fetchval("SELECT 1") == 1


async def test_nested_transaction_for_another_tenant_is_refused(backend):
    a = await make_tenant()
    b = await make_tenant()
    async with db.tenant_transaction(a.id):
        with pytest.raises(RuntimeError, match="another tenant"):
            async with db.tenant_transaction(b.id):
                pass


async def test_after_commit_jobs_run_only_after_a_commit(backend):
    tenant = await make_tenant()
    ran: list[str] = []

    async def job() -> None:
        ran.append("committed")

    async with db.tenant_transaction(tenant.id):
        db.after_commit(job)
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(ValueError):
        async with db.tenant_transaction(tenant.id):
            db.after_commit(job)
            raise ValueError("roll back")
    assert ran == ["committed"]
    with pytest.raises(RuntimeError):
        db.after_commit(job)
