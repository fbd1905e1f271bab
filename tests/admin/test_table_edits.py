"""Staff edits through the admin's table views (purposes, segments, notices,
contacts) go through the services, on both engines: each writes the audit event
the API writes, naming the staff member by e-mail and only the fields whose value
changed; segment rules are checked with the API's language (the bad node's path
in the refusal); the "Extend deadline" form accepts the months as the form sends
them (text); another tenant's rows answer as absent."""

from __future__ import annotations

import hashlib
import json

from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff
from tests.factories import make_request


async def _trail(client, world, prefix):
    items = (await client.get("/v1/audit-events", params={"limit": 500},
                              headers=world.tenant.headers)).json()["items"]
    return [(e["action"], e["actor"], e["details"].get("fields"))
            for e in items if e["action"].startswith(prefix) and e["actor"].startswith("staff:")]


async def _edit(admin, table, row_id, change):
    """What the table view does on save: the whole row back, one value changed."""
    row = (await admin.get(f"/tables/{table}/{row_id}/")).json()
    return await admin.send("PATCH", f"/tables/{table}/{row_id}/", {**row, **change})


async def test_contact_and_purpose_edits_are_audited_with_changed_fields_only(client):
    scene = await make_scene()
    email = await make_staff(tenant=scene.a.tenant.slug)
    admin = await login(client, email)
    try:
        saved = await _edit(admin, "contact", scene.a.contact["id"], {"first_name": "Anne"})
        assert saved.status_code == 200, saved.text
        unchanged = await _edit(admin, "contact", scene.a.contact["id"], {})
        assert unchanged.status_code == 200, unchanged.text
        saved = await _edit(admin, "purpose", scene.a.purpose["id"], {"name": "Weekly news"})
        assert saved.status_code == 200, saved.text
        renamed = await _edit(admin, "purpose", scene.a.purpose["id"], {"key": "other"})
        assert renamed.status_code == 422 and "never changes" in renamed.text
        created = await admin.send("POST", "/tables/purpose/", {
            "key": "partners", "name": "Partner offers", "legal_basis": "consent"})
        assert created.status_code == 201, created.text
        # Purposes are referenced by the ledger: never deleted.
        assert (await admin.send("DELETE", f"/tables/purpose/{scene.a.purpose['id']}/")
                ).status_code == 403
        # Another tenant's rows: as absent, and untouched.
        for table, row_id in (("contact", scene.b.contact["id"]),
                              ("purpose", scene.b.purpose["id"])):
            assert (await admin.send("PATCH", f"/tables/{table}/{row_id}/", {"name": "x"})
                    ).status_code == 404
    finally:
        await admin.aclose()
    actor = f"staff:{email}"
    assert await _trail(client, scene.a, "contact.updated") == [
        ("contact.updated", actor, ["first_name"])]
    assert await _trail(client, scene.a, "purpose.") == [
        ("purpose.updated", actor, ["name"]), ("purpose.created", actor, None)]
    purpose = (await client.get(f"/v1/purposes/{scene.a.purpose['key']}",
                                headers=scene.a.tenant.headers)).json()
    assert purpose["name"] == "Weekly news"
    assert (await client.get(f"/v1/purposes/{scene.b.purpose['key']}",
                             headers=scene.b.tenant.headers)).json()["name"] == \
        scene.b.purpose["name"]
    assert await _trail(client, scene.b, "") == []


async def test_segment_rules_are_checked_like_the_api(client):
    scene = await make_scene()
    email = await make_staff(tenant=scene.a.tenant.slug)
    admin = await login(client, email)
    good = {"type": "all", "rules": [{"type": "field", "field": "country", "op": "eq",
                                      "value": "FR"}]}
    try:
        bogus = await admin.send("POST", "/tables/segment/", {"name": "bad",
                                                              "rules": '{"type":"bogus"}'})
        assert bogus.status_code == 422, bogus.text
        deep = await admin.send("POST", "/tables/segment/", {"name": "bad", "rules": json.dumps({
            "type": "all", "rules": [good["rules"][0], {"type": "field", "field": "country",
                                                        "op": "between", "value": "FR"}]})})
        assert deep.status_code == 422 and "rules[1].value" in deep.text, deep.text
        assert (await admin.get("/tables/segment/")).json()["rows"] == []
        created = await admin.send("POST", "/tables/segment/", {"name": "French",
                                                                "rules": json.dumps(good)})
        assert created.status_code == 201, created.text
        segment_id = created.json()[0]["id"]
        broken = await _edit(admin, "segment", segment_id, {"rules": '{"type": "bogus"}'})
        assert broken.status_code == 422, broken.text
        renamed = await _edit(admin, "segment", segment_id, {"name": "France"})
        assert renamed.status_code == 200, renamed.text
        assert (await admin.send("DELETE", f"/tables/segment/{segment_id}/")).status_code == 204
    finally:
        await admin.aclose()
    actor = f"staff:{email}"
    assert await _trail(client, scene.a, "segment.") == [
        ("segment.created", actor, None), ("segment.updated", actor, ["name"]),
        ("segment.deleted", actor, None)]
    # The tenant's access requests still work (a bogus rule once broke them all).
    request = await make_request(scene.a.tenant, scene.a.contact["email"], kind="access",
                                 identity_verified=True)
    done = await client.post(f"/v1/requests/{request['id']}/complete",
                             headers=scene.a.tenant.headers)
    assert done.status_code == 200, done.text


async def test_notice_created_in_the_admin_is_versioned_and_audited(client):
    scene = await make_scene()
    email = await make_staff(tenant=scene.a.tenant.slug)
    admin = await login(client, email)
    text = "Oui, envoyez-moi la lettre d'information — 2ᵉ version.\n"
    try:
        created = await admin.send("POST", "/tables/notice/", {
            "purpose": scene.a.purpose["id"], "channels": '["email"]', "language": "en",
            "text": text})
        assert created.status_code == 201, created.text
        notice_id = created.json()[0]["id"]
        assert (await _edit(admin, "notice", notice_id, {"text": "changed"})).status_code == 403
        foreign = await admin.send("POST", "/tables/notice/", {
            "purpose": scene.b.purpose["id"], "channels": '["email"]', "language": "en",
            "text": "x"})
        assert foreign.status_code == 404
    finally:
        await admin.aclose()
    notice = (await client.get(f"/v1/notices/{notice_id}", headers=scene.a.tenant.headers)).json()
    # make_world wrote version 1 for (newsletter, en); this is the second.
    assert notice["version"] == 2
    assert notice["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert [(a, who) for a, who, _ in await _trail(client, scene.a, "notice.")] == [
        ("notice.created", f"staff:{email}")]


async def test_extend_deadline_accepts_the_months_as_text(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    request = await make_request(scene.a.tenant, scene.a.contact["email"], kind="access",
                                 identity_verified=True)
    try:
        for months in ("3", "zero", ""):
            refused = await admin.send("POST", "/forms/extend-deadline/", {
                "request_id": request["id"], "months": months, "reason": "archives"})
            assert refused.status_code == 422, (months, refused.text)
        extended = await admin.send("POST", "/forms/extend-deadline/", {
            "request_id": request["id"], "months": "2", "reason": "archives off site"})
        assert extended.status_code == 200, extended.text
        assert "extended by 2 month(s)" in extended.text
    finally:
        await admin.aclose()
    after = (await client.get(f"/v1/requests/{request['id']}",
                              headers=scene.a.tenant.headers)).json()
    assert after["extended_months"] == 2
