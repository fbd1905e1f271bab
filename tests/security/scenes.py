"""Set-ups several security tests share."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import TenantFixture, grant, make_contact, make_notice, make_purpose, make_tenant


async def exported_csv(client: httpx.AsyncClient, **contact: Any
                       ) -> tuple[TenantFixture, dict, httpx.Response]:
    """A tenant with one contact (`contact`'s fields) granted e-mail for
    `newsletter`, and the CSV export of everyone: (tenant, purpose, answer)."""
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    made = await make_contact(tenant, **contact)
    await grant(tenant, made["id"], notice["id"])
    segment = await client.post("/v1/segments", headers=tenant.headers,
                                json={"name": "all", "rules": {"type": "all", "rules": []}})
    answer = await client.get(f"/v1/segments/{segment.json()['id']}/export",
                              headers=tenant.headers,
                              params={"channel": "email", "purpose": "newsletter",
                                      "format": "csv"})
    assert answer.status_code == 200, answer.text
    return tenant, purpose, answer
