"""Segment count and export drop suppressed people (DESIGN principle 3), on
both engines: listed for all channels, for one channel, by e-mail or phone."""

from __future__ import annotations

import json

from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

EVERYONE = {"type": "field", "field": "country", "op": "eq", "value": "FR"}


async def audience(client, tenant, segment_id, channel) -> tuple[int, set[str]]:
    params = {"channel": channel, "purpose": "newsletter"}
    count = await client.get(f"/v1/segments/{segment_id}/count", params=params, headers=tenant.headers)
    export = await client.get(f"/v1/segments/{segment_id}/export", params={**params, "format": "ndjson"},
                              headers=tenant.headers)
    assert count.status_code == export.status_code == 200, (count.text, export.text)
    rows = [json.loads(line) for line in export.text.splitlines() if line.strip()]
    return count.json()["count"], {row["email"] for row in rows}


async def test_count_and_export_drop_suppressed_people(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email", "sms"))
    people = {}
    for name, phone in (("ann", "+33612340001"), ("bob", "+33612340002"),
                        ("cat", "+33612340003")):
        people[name] = await make_contact(tenant, email=f"{name}@example.com",
                                          country="FR", phone=phone)
        for channel in ("email", "sms"):
            await grant(tenant, people[name]["id"], notice["id"], channel=channel)
    segment = (await client.post("/v1/segments", json={"name": "all", "rules": EVERYONE},
                                 headers=tenant.headers)).json()
    everyone = {"ann@example.com", "bob@example.com", "cat@example.com"}
    assert await audience(client, tenant, segment["id"], "email") == (3, everyone)

    for entry in ({"email": "ANN@example.com", "reason": "objection"},
                  {"phone": "06 12 34 00 02", "channel": "sms", "reason": "complaint"}):
        response = await client.post("/v1/suppressions", json=entry, headers=tenant.headers)
        assert response.status_code == 201, response.text

    assert await audience(client, tenant, segment["id"], "email") == (
        2, {"bob@example.com", "cat@example.com"})
    assert await audience(client, tenant, segment["id"], "sms") == (1, {"cat@example.com"})
