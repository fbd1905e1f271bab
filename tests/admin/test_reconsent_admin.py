"""The admin shows a re-permission campaign's progress (sent, confirmed,
pending) to its tenant's staff, read-only, and never another tenant's."""

from __future__ import annotations

from tests.admin.staff import login, make_staff
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant


async def _campaign(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    v1 = await make_notice(tenant, channels=("email",), text="One.")
    for name in ("ann", "ben"):
        person = await make_contact(tenant, email=f"{name}@example.org")
        await grant(tenant, person["id"], v1["id"])
    v2 = await make_notice(tenant, channels=("email",), text="Two.", partners=["Acme"])
    segment = (await client.post("/v1/segments", headers=tenant.headers, json={
        "name": "v1", "rules": {"type": "consent", "channel": "email", "purpose": "newsletter",
                                "notice_version": {"lt": 2}}})).json()
    campaign = (await client.post("/v1/reconsent-campaigns", headers=tenant.headers, json={
        "name": "Acme", "segment_id": segment["id"], "purpose": "newsletter",
        "notice_id": v2["id"]})).json()
    return tenant, campaign


async def test_campaign_progress_in_the_admin(client):
    tenant, campaign = await _campaign(client)
    other, other_campaign = await _campaign(client)
    admin = await login(client, await make_staff(tenant=tenant.slug, role="viewer"))
    try:
        listed = await admin.get("/tables/reconsent_campaign/")
        assert listed.status_code == 200, listed.text
        rows = listed.json()["rows"]
        assert [(r["name"], r["sent"], r["confirmed"], r["pending"]) for r in rows] == [
            ("Acme", 2, 0, 2)]
        assert all(r["id"] != other_campaign["id"] for r in rows)
        foreign = await admin.get(f"/tables/reconsent_campaign/{other_campaign['id']}/")
        assert foreign.status_code == 404
        edit = await admin.send("PATCH", f"/tables/reconsent_campaign/{campaign['id']}/",
                                {"sent": 99})
        assert edit.status_code in (403, 405)
    finally:
        await admin.aclose()
