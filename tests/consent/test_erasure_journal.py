"""The erasure journal and its re-application, in-process on both engines: what
each erasure path writes (never the clear identifier), and what `reapply` does
with data that does not contain an erasure — a retention purge of someone who
may come back, and an erasure request whose person's requests were restored
with their address."""

from __future__ import annotations

import uuid

from consent import erasure_journal, reapply
from consent.erasure import erase_contact, journal_erasure
from consent.suppression import contact_hashes
from optinbase import db
from tests.factories import context, make_contact, make_request, make_tenant


async def test_retention_purge_is_journalled_unsuppressed(client, backend):
    tenant = await make_tenant()
    email = f"purged.{uuid.uuid4().hex[:8]}@example.org"
    contact = await make_contact(tenant, email=email)
    ctx = context(tenant)
    async with db.tenant_transaction(tenant.id):
        await erase_contact(ctx, uuid.UUID(contact["id"]), suppress=False)
    [entry] = list(erasure_journal.entries(tenant.id))
    assert entry.contact_id == contact["id"] and entry.suppress is False
    assert [i.kind for i in entry.identifiers] == ["email"]
    assert email not in erasure_journal.path_for(tenant.id).read_text()
    assert erasure_journal.was_erased(tenant.id, "email", email)
    assert not erasure_journal.was_erased(uuid.uuid4(), "email", email)  # keyed per tenant

    async with db.tenant_transaction(tenant.id):
        done = await reapply.reapply(ctx)
    assert (done.journalled, done.contained, done.erased, done.suppressed) == (1, 1, 0, 0)
    check = await client.get("/v1/suppressions/check", params={"email": email},
                             headers=tenant.headers)
    assert check.json()["suppressed"] is False  # a purge is not an objection


async def test_request_only_erasure_is_reapplied_to_restored_requests(client, backend):
    tenant = await make_tenant()
    email = f"asked.{uuid.uuid4().hex[:8]}@example.org"
    request = await make_request(tenant, email, kind="erasure")  # its verification e-mail waits
    ctx = context(tenant)

    async def queued() -> list:
        async with db.tenant_transaction(tenant.id, write=False):
            return await db.fetch(
                "SELECT 1 FROM outbox_message WHERE tenant_id = {} AND recipient = {}",
                tenant.id, email)

    assert len(await queued()) == 1
    # The data as a backup taken before the erasure was carried out holds it:
    # the request open, with the address; the journal says it was done.
    async with db.tenant_transaction(tenant.id):
        await journal_erasure(ctx, None, email, None, await contact_hashes(ctx, email, None),
                              suppress=True)
        done = await reapply.reapply(ctx)
    assert (done.erased, done.suppressed) == (0, 1)
    after = (await client.get(f"/v1/requests/{request['id']}", headers=tenant.headers)).json()
    assert after["status"] == "lapsed" and email not in str(after)
    check = await client.get("/v1/suppressions/check", params={"email": email},
                             headers=tenant.headers)
    assert check.json() == {"suppressed": True, "channels": ["all"]}
    assert await queued() == []
    async with db.tenant_transaction(tenant.id):
        again = await reapply.reapply(ctx)
    assert (again.contained, again.erased, again.suppressed) == (1, 0, 0)
