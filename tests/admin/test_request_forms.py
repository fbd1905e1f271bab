"""Data-subject requests in the admin, on both engines: the list (due dates,
read-only, tenant-scoped, no package bytes), and the forms — record, verify,
extend, complete, reject — through the service, with role checks and another
tenant's request reading as unknown."""

from __future__ import annotations

from optinbase import db
from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff
from tests.factories import make_request


async def _api_request(world, **body):
    """A request received by the API for the world's contact."""
    return await make_request(world.tenant, world.contact["email"], **body)


async def test_request_list_is_scoped_and_read_only(client):
    scene = await make_scene()
    mine = await _api_request(scene.a)
    packaged = await _api_request(scene.a, kind="portability", identity_verified=True)
    assert (await client.post(f"/v1/requests/{packaged['id']}/complete",
                              headers=scene.a.tenant.headers)).status_code == 200
    theirs = await _api_request(scene.b)
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    try:
        rows = (await admin.get("/tables/data_subject_request/")).json()["rows"]
        assert sorted(r["id"] for r in rows) == sorted([mine["id"], packaged["id"]])
        # Secret columns come back empty: no package bytes, no keyed hash.
        assert all(r.get("package") is None and r.get("subject_hash") is None for r in rows)
        assert all(r["due_at"] for r in rows)
        detail = await admin.get(f"/tables/data_subject_request/{mine['id']}/")
        assert detail.status_code == 200, detail.text
        assert (await admin.get(f"/tables/data_subject_request/{theirs['id']}/")).status_code == 404
        assert (await admin.send("PATCH", f"/tables/data_subject_request/{mine['id']}/",
                                 {"status": "completed"})).status_code in (403, 405)
        assert (await admin.send("DELETE", f"/tables/data_subject_request/{mine['id']}/")
                ).status_code in (403, 405)
        events = (await admin.get("/tables/request_event/")).json()["rows"]
        assert {str(e["request_id"]) for e in events} == {mine["id"], packaged["id"]}
        assert (await admin.get("/tables/data_subject_request/count/")).json()["count"] == 2
        for params in ({"tenant": str(scene.b.tenant.id)}, {"id": theirs["id"]},
                       {"email": theirs["email"], "email__match": "exact"}):
            assert (await admin.get("/tables/data_subject_request/", **params)).json()["rows"] == []
            assert (await admin.get("/tables/data_subject_request/count/", **params)
                    ).json()["count"] == 0
        for table in ("data_subject_request", "request_event"):
            ids = (await admin.get(f"/tables/{table}/ids/")).json()
            assert theirs["id"] not in ids and theirs["id"] not in str(ids)
            readable = await admin.get(f"/tables/{table}/", __readable="true")
            assert readable.status_code == 200 and theirs["id"] not in readable.text
    finally:
        await admin.aclose()
    assert (await client.get(f"/v1/requests/{mine['id']}",
                             headers=scene.a.tenant.headers)).json()["status"] == "unverified"


async def test_forms_handle_a_request_to_completion(client):
    scene = await make_scene()
    manager = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    viewer = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    dpo = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="dpo"))
    try:
        recorded = await manager.send("POST", "/forms/record-a-request/", {
            "kind": "withdrawal", "email": scene.a.contact["email"], "note": "by letter"})
        assert recorded.status_code == 200, recorded.text
        message = recorded.json()["custom_form_success"]
        request_id = message.split()[1]
        assert "now unverified" in message
        theirs = await _api_request(scene.b)
        for slug in (scene.b.tenant.slug, "no-such-tenant"):  # another tenant reads as none
            elsewhere = await manager.send("POST", "/forms/record-a-request/", {
                "tenant": slug, "kind": "access", "email": scene.a.contact["email"]})
            assert elsewhere.status_code == 422 and f"No tenant {slug!r}" in elsewhere.text, elsewhere.text
        for form, body in (("verify-identity", {"how_identity_was_checked": "ID card seen"}),
                           ("extend-deadline", {"months": 1, "reason": "x"}),
                           ("complete-request", {}), ("reject-request", {"reason": "x"})):
            foreign = await manager.send("POST", f"/forms/{form}/",
                                         {"request_id": theirs["id"], **body})
            assert foreign.status_code == 422 and "No request" in foreign.text, (form, foreign.text)
            refused = await viewer.send("POST", f"/forms/{form}/", {"request_id": request_id, **body})
            assert refused.status_code == 422 and "role" in refused.text, (form, refused.text)

        verified = await manager.send("POST", "/forms/verify-identity/", {
            "request_id": request_id, "how_identity_was_checked": "ID card seen at the counter"})
        assert verified.status_code == 200 and "now verified" in verified.text, verified.text
        extended = await manager.send("POST", "/forms/extend-deadline/", {
            "request_id": request_id, "months": 2, "reason": "archives off site"})
        assert extended.status_code == 200, extended.text
        again = await manager.send("POST", "/forms/extend-deadline/", {
            "request_id": request_id, "months": 1, "reason": "more"})
        assert again.status_code == 422 and "at most 2" in again.text
        done = await manager.send("POST", "/forms/complete-request/", {"request_id": request_id})
        assert done.status_code == 200 and "now completed" in done.text, done.text

        request = (await client.get(f"/v1/requests/{request_id}",
                                    headers=scene.a.tenant.headers)).json()
        assert request["source"] == "staff" and request["verification"] == "staff"
        assert request["extended_months"] == 2
        actions = [(e["action"], e["actor"].split(":")[0]) for e in request["events"]]
        assert ("verified", "staff") in actions and ("completed", "staff") in actions
        check = await client.get("/v1/consent-check", params={
            "contact_id": scene.a.contact["id"], "channel": "email", "purpose": "newsletter"},
            headers=scene.a.tenant.headers)
        assert check.json()["status"] == "withdrawn"

        erasure = await _api_request(scene.a, kind="erasure", identity_verified=True)
        refused = await manager.send("POST", "/forms/complete-request/",
                                     {"request_id": erasure["id"]})
        assert refused.status_code == 422 and "owner or the DPO" in refused.text
        erased = await dpo.send("POST", "/forms/complete-request/", {"request_id": erasure["id"]})
        assert erased.status_code == 200, erased.text
        assert (await client.get(f"/v1/contacts/{scene.a.contact['id']}",
                                 headers=scene.a.tenant.headers)).status_code == 404
        bad_id = await manager.send("POST", "/forms/reject-request/",
                                    {"request_id": "not-an-id", "reason": "x"})
        assert bad_id.status_code == 422
    finally:
        for session in (manager, viewer, dpo):
            await session.aclose()
    async with db.tenant_transaction(scene.b.tenant.id, write=False):
        assert await db.fetchval("SELECT status FROM data_subject_request WHERE tenant_id = {}",
                                 scene.b.tenant.id) == "unverified"


async def test_dashboard_shows_open_requests_against_their_deadlines(client):
    import datetime as dt

    scene = await make_scene()
    late = await _api_request(scene.a)
    fresh = await _api_request(scene.a, kind="erasure")
    theirs = await _api_request(scene.b)
    async with db.tenant_transaction(scene.a.tenant.id):
        await db.execute("UPDATE data_subject_request SET due_at = {} WHERE tenant_id = {}"
                         " AND id = {}", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3),
                         scene.a.tenant.id, late["id"])
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    try:
        page = await admin.http.get("/admin/dashboard/")
        assert page.status_code == 200
        html = page.text
        assert 'id="open-requests">2<' in html and 'id="overdue-requests">1<' in html
        assert html.index(late["id"]) < html.index(fresh["id"])  # soonest due first
        assert "overdue by 3 day(s)" in html or "overdue by 2 day(s)" in html
        assert theirs["id"] not in html
    finally:
        await admin.aclose()


async def test_erase_form_is_for_owners_and_dpos_and_sees_one_tenant(client):
    scene = await make_scene()
    manager = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    dpo = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="dpo"))
    try:
        for session, body, words in (
            (dpo, {"contact_id": scene.b.contact["id"], "confirm": True}, "No contact"),
            (manager, {"contact_id": scene.a.contact["id"], "confirm": True}, "owner or the DPO"),
            (dpo, {"contact_id": scene.a.contact["id"]}, "cannot be undone"),
        ):
            refused = await session.send("POST", "/forms/erase-contact/", body)
            assert refused.status_code == 422 and words in refused.text, refused.text
        erased = await dpo.send("POST", "/forms/erase-contact/",
                                {"contact_id": scene.a.contact["id"], "confirm": True})
        assert erased.status_code == 200, erased.text
    finally:
        await manager.aclose()
        await dpo.aclose()
    assert (await client.get(f"/v1/contacts/{scene.a.contact['id']}",
                             headers=scene.a.tenant.headers)).status_code == 404
    assert (await client.get(f"/v1/contacts/{scene.b.contact['id']}",
                             headers=scene.b.tenant.headers)).status_code == 200
