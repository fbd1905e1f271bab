"""The export stream: keyset batches in contact order (memory bounded by the
batch, not the audience), one report at the end — also when cut short."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from consent.segments import audience, export
from consent.segments import rules as r
from consent.tokens import Signer
from optinbase import db
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant


async def test_batches_in_contact_order_and_one_report(backend):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    granted = []
    for _ in range(5):
        contact = await make_contact(tenant)
        await grant(tenant, contact["id"], notice["id"])
        granted.append(contact["id"])
    await make_contact(tenant)  # never asked: not in any audience
    reports: list[tuple[int, bool]] = []

    async def finished(rows: int, complete: bool) -> None:
        reports.append((rows, complete))

    async with db.tenant_transaction(tenant.id, write=False):
        purpose_id = await db.fetchval(
            "SELECT id FROM purpose WHERE tenant_id = {} AND key = {}", tenant.id, "newsletter")
        query = audience.export_query(
            r.parse({"type": "all", "rules": []}), tenant_id=tenant.id, channel="email",
            purpose_id=purpose_id, now=dt.datetime.now(dt.timezone.utc), postgres=db.is_postgres())
        links = export.Links(Signer("s" * 40, tenant.id, purpose_id, "email"), "https://x.test")
        chunks = [c async for c in export.stream(query, "ndjson", links, finished, batch=2)]
        assert [len(c.splitlines()) for c in chunks] == [2, 2, 1]
        ids = [json.loads(line)["id"] for c in chunks for line in c.splitlines()]
        assert ids == sorted(granted, key=lambda i: uuid.UUID(i).bytes)
        assert reports == [(5, True)]

        cut = export.stream(query, "csv", links, finished, batch=2)
        header = await cut.__anext__()
        assert header.startswith(b"id,email,phone,")
        assert len((await cut.__anext__()).splitlines()) == 2
        await cut.aclose()  # the client went away
        assert reports[-1] == (2, False)
