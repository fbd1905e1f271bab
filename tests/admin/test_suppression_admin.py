"""The suppression list in the admin, on both engines: the read-only table shows
hashes with channel, reason and date (never an address) and only the staff
member's tenants; the forms look up, add and remove (reason required, audited
with the staff member's e-mail); another tenant's slug and list read as unknown."""

from __future__ import annotations

from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff


async def _audit(client, world):
    return (await client.get("/v1/audit-events", params={"limit": 200},
                             headers=world.tenant.headers)).json()["items"]


async def test_suppression_forms_and_table(client):
    scene = await make_scene()
    email = await make_staff(tenant=scene.a.tenant.slug)
    admin = await login(client, email)
    viewer = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    theirs = await client.post("/v1/suppressions", json={"email": "bob@example.com",
                                                        "reason": "complaint"},
                               headers=scene.b.tenant.headers)
    assert theirs.status_code == 201
    try:
        looked = await admin.send("POST", "/forms/look-up-suppression/",
                                  {"email": "bob@example.com"})
        assert looked.status_code == 200, looked.text
        assert looked.json()["custom_form_success"] == "Not on the suppression list."

        added = await admin.send("POST", "/forms/add-suppression/", {
            "email": "Ann@Example.com", "channel": "sms", "reason": "objection"})
        assert added.status_code == 200, added.text
        assert added.json()["custom_form_success"] == "Listed for sms (objection)."
        looked = (await admin.send("POST", "/forms/look-up-suppression/",
                                   {"email": "ann@example.com"})).json()["custom_form_success"]
        assert looked.startswith("On the suppression list: sms (objection, since ")

        rows = (await admin.get("/tables/suppression/")).json()["rows"]
        assert [(r["channel"], r["reason"]) for r in rows] == [("sms", "objection")]
        assert len(rows[0]["identifier_hash"]) == 64 and "example.com" not in str(rows)
        # Read-only: no raw insert, edit or delete.
        assert (await admin.send("POST", "/tables/suppression/", {"channel": "all"})
                ).status_code in (403, 405)
        assert (await admin.send("DELETE", f"/tables/suppression/{rows[0]['id']}/")
                ).status_code in (403, 405)

        # Another tenant: its slug reads as unknown, its entries are not ours to lift.
        foreign = await admin.send("POST", "/forms/remove-suppression/", {
            "tenant": scene.b.tenant.slug, "email": "bob@example.com", "reason": "x"})
        assert foreign.status_code == 422 and f"No tenant {scene.b.tenant.slug!r}" in foreign.text
        absent = await admin.send("POST", "/forms/remove-suppression/", {
            "email": "bob@example.com", "reason": "x"})
        assert absent.status_code == 422 and "not on the suppression list" in absent.text
        assert (await client.get("/v1/suppressions/check", params={"email": "bob@example.com"},
                                 headers=scene.b.tenant.headers)).json()["suppressed"] is True

        # A viewer may look but not lift; a reason is required.
        assert (await viewer.send("POST", "/forms/look-up-suppression/",
                                  {"email": "ann@example.com"})).status_code == 200
        refused = await viewer.send("POST", "/forms/remove-suppression/", {
            "email": "ann@example.com", "reason": "x"})
        assert refused.status_code == 422 and "does not allow" in refused.text
        assert (await admin.send("POST", "/forms/remove-suppression/", {
            "email": "ann@example.com", "reason": ""})).status_code == 422

        lifted = await admin.send("POST", "/forms/remove-suppression/", {
            "email": "ann@example.com", "reason": "asked to hear from us again",
            "channel": "every entry"})
        assert lifted.status_code == 200, lifted.text
        assert (await admin.get("/tables/suppression/")).json()["rows"] == []
    finally:
        await admin.aclose()
        await viewer.aclose()
    trail = [(e["action"], e["actor"], e["details"].get("reason"))
             for e in await _audit(client, scene.a)
             if e["action"].startswith("suppression.")]
    assert trail == [("suppression.added", f"staff:{email}", "objection"),
                     ("suppression.removed", f"staff:{email}", "asked to hear from us again")]
    assert not [e for e in await _audit(client, scene.b) if e["action"] == "suppression.removed"]
