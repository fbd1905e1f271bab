"""Segment conditions for re-consent: the notice version a consent was given
under (`notice_version`) and its age (`older_than_days`), on both engines,
with 422 answers naming the bad node like every other rule error."""

from __future__ import annotations

import datetime as dt
import json

from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant


async def _segment(client, tenant, rule):
    return await client.post("/v1/segments", headers=tenant.headers,
                             json={"name": "re-consent", "rules": rule})


async def _count(client, tenant, segment_id):
    response = await client.get(f"/v1/segments/{segment_id}/count", headers=tenant.headers,
                                params={"channel": "email", "purpose": "newsletter"})
    assert response.status_code == 200, response.text
    return response.json()["count"]


async def test_notice_version_and_age(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    v1 = await make_notice(tenant, text="Version one.")
    v2 = await make_notice(tenant, text="Version two, with partners.", partners=["Acme"])
    assert (v1["version"], v2["version"]) == (1, 2)
    old = await make_contact(tenant, email="old@example.org")
    new = await make_contact(tenant, email="new@example.org")
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1200)).isoformat()
    await grant(tenant, old["id"], v1["id"], collected_at=long_ago)
    await grant(tenant, new["id"], v2["id"])

    def consent(**extra):
        return {"type": "consent", "channel": "email", "purpose": "newsletter", **extra}

    cases = [
        (consent(notice_version={"lt": 2}), 1),
        (consent(notice_version={"eq": 2}), 1),
        (consent(notice_version={"gte": 1, "lt": 3}), 2),
        (consent(notice_version={"gt": 2}), 0),
        (consent(older_than_days=1095), 1),
        (consent(older_than_days=1095, notice_version={"lt": 2}), 1),
        (consent(older_than_days=1095, notice_version={"eq": 2}), 0),
        ({"type": "not", "rule": consent(notice_version={"lt": 2})}, 1),
    ]
    for rule, expected in cases:
        created = await _segment(client, tenant, rule)
        assert created.status_code == 201, created.text
        assert "null" not in json.dumps(created.json()["rules"])  # no unset fields stored
        assert await _count(client, tenant, created.json()["id"]) == expected, rule


async def test_bad_reconsent_conditions_name_the_node(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    base = {"type": "consent", "channel": "email", "purpose": "newsletter"}
    for extra, path in [
        ({"notice_version": {"lt": "three"}}, "rules[0].notice_version.lt"),
        ({"notice_version": {"below": 3}}, "rules[0].notice_version.below"),
        ({"notice_version": {}}, "rules[0].notice_version"),
        ({"notice_version": 3}, "rules[0].notice_version"),
        ({"older_than_days": -1}, "rules[0].older_than_days"),
        ({"older_than_days": "old"}, "rules[0].older_than_days"),
    ]:
        response = await _segment(client, tenant, {"type": "all", "rules": [{**base, **extra}]})
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["errors"][0]["field"] == path, (extra, response.json())
