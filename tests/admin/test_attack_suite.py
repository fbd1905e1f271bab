"""The admin's HTTP API attacked by staff of tenant A, of an agency, and by a
viewer: zero leaks and zero writes across tenants, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from tests.admin.scene import Scene, make_scene, snapshot
from tests.admin.staff import Admin, login, make_staff

MISSING = str(uuid.uuid4())


async def assert_no_leak(admin: Admin, scene: Scene, visible: set[str]) -> None:
    """`visible`: the tenant ids this user may see; B is never among them."""
    b, b_contact = scene.b, scene.b.contact
    # list, and every row's tenant
    rows = (await admin.get("/tables/contact/", __page_size=1000)).json()["rows"]
    assert {r["tenant"] for r in rows} <= visible
    assert b_contact["id"] not in {r["id"] for r in rows}
    # filters (by field, by tenant) and count as an oracle
    for params in ({"email": b_contact["email"], "email__match": "exact"},
                   {"tenant": str(b.tenant.id)}, {"tenant_id": str(b.tenant.id)},
                   {"id": b_contact["id"]}):
        assert (await admin.get("/tables/contact/", **params)).json()["rows"] == []
        assert (await admin.get("/tables/contact/count/", **params)).json()["count"] == 0
    # A's contacts share B's phone number: the filter finds only the visible ones
    same_phone = (await admin.get("/tables/contact/", phone=b_contact["phone"])).json()["rows"]
    assert {r["tenant"] for r in same_phone} <= visible
    total = (await admin.get("/tables/contact/count/")).json()["count"]
    assert total == len(rows)
    # detail: B's row answers exactly like a missing one
    for table, row_id in (("contact", b_contact["id"]), ("purpose", b.purpose["id"]),
                          ("notice", b.notice["id"]), ("consent_event", b.event["id"])):
        foreign = await admin.get(f"/tables/{table}/{row_id}/")
        missing = await admin.get(f"/tables/{table}/{MISSING}/")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.text == missing.text
    # /ids/ dropdowns, with and without search; the tenant dropdown too
    for table, term in (("contact", b_contact["email"][:8]), ("purpose", "news"),
                        ("tenant", "")):
        ids = (await admin.get(f"/tables/{table}/ids/", search=term)).json()
        ids_all = (await admin.get(f"/tables/{table}/ids/")).json()
        foreign = {b_contact["id"], b.purpose["id"], str(b.tenant.id)}
        assert not (set(ids) | set(ids_all)) & foreign
    assert set((await admin.get("/tables/tenant/ids/")).json()) == visible
    # __readable joins only readables of visible rows
    for table in ("contact", "notice", "consent_state"):
        response = await admin.get(f"/tables/{table}/", __readable="true")
        assert response.status_code == 200, response.text
        assert b_contact["email"] not in response.text
        assert str(b.tenant.id) not in response.text
    # ranges and secret columns are not offered
    assert "content-range" not in (await admin.get("/tables/contact/", __range_header="true")).headers


async def assert_no_write(admin: Admin, scene: Scene, in_a: int = 404) -> None:
    """`in_a`: the answer to writes aimed at B through A's own rows (a viewer
    is refused earlier, for its role: 403)."""
    b, a = scene.b, scene.a
    # patch, put, delete B's rows
    assert (await admin.send("PATCH", f"/tables/contact/{b.contact['id']}/",
                             {"first_name": "Mallory"})).status_code == 404
    assert (await admin.send("PUT", f"/tables/purpose/{b.purpose['id']}/",
                             {"key": "hijack", "name": "Hijack", "tenant": str(b.tenant.id)})
            ).status_code == 404
    assert (await admin.send("DELETE", f"/tables/purpose/{b.purpose['id']}/")).status_code == 404
    assert (await admin.send("DELETE", f"/tables/contact/{b.contact['id']}/")).status_code == 404
    # post into B
    for table, body in (("contact", {"email": "intruder@example.com"}),
                        ("purpose", {"key": "intruder", "name": "Intruder"})):
        response = await admin.send("POST", f"/tables/{table}/", {**body, "tenant": str(b.tenant.id)})
        assert response.status_code == 404, response.text
    # the tenant spelt as its database column, alone or beside a visible one
    response = await admin.send("POST", "/tables/purpose/", {
        "key": "alias", "name": "Alias", "tenant_id": str(b.tenant.id)})
    assert response.status_code == 404, response.text
    response = await admin.send("POST", "/tables/purpose/", {
        "key": "alias", "name": "Alias", "tenant_id": str(b.tenant.id), "tenant": str(a.tenant.id)})
    assert response.status_code == 400, response.text
    response = await admin.send("PATCH", f"/tables/purpose/{a.purpose['id']}/",
                                {"tenant_id": str(b.tenant.id)})
    assert response.status_code == in_a, response.text
    # move A's row to B
    response = await admin.send("PATCH", f"/tables/purpose/{a.purpose['id']}/",
                                {"tenant": str(b.tenant.id)})
    assert response.status_code == in_a, response.text
    # a foreign key to B's row inside A
    response = await admin.send("POST", "/tables/notice/", {
        "tenant": str(a.tenant.id), "purpose": b.purpose["id"], "channels": '["email"]',
        "language": "en", "text": "Sneaky", "version": 1, "text_sha256": "x" * 64})
    assert response.status_code == in_a, response.text


async def test_tenant_staff_attack_suite(client):
    scene = await make_scene()
    before = {w.tenant.slug: await snapshot(client, w) for w in (scene.b, scene.a2)}
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    try:
        await assert_no_leak(admin, scene, {str(scene.a.tenant.id)})
        rows = (await admin.get("/tables/contact/")).json()["rows"]
        assert [r["id"] for r in rows] == [scene.a.contact["id"]]
        assert scene.a2.contact["email"] not in (await admin.get("/tables/contact/")).text
        await assert_no_write(admin, scene)
        # A2 belongs to A's agency, not to A's staff
        assert (await admin.get(f"/tables/contact/{scene.a2.contact['id']}/")).status_code == 404
    finally:
        await admin.aclose()
    assert before == {w.tenant.slug: await snapshot(client, w) for w in (scene.b, scene.a2)}


async def test_agency_staff_see_their_tenants_and_filter_by_tenant(client):
    scene = await make_scene()
    before = await snapshot(client, scene.b)
    admin = await login(client, await make_staff(agency=scene.agency))
    try:
        visible = {str(scene.a.tenant.id), str(scene.a2.tenant.id)}
        await assert_no_leak(admin, scene, visible)
        rows = (await admin.get("/tables/contact/")).json()["rows"]
        assert {r["id"] for r in rows} == {scene.a.contact["id"], scene.a2.contact["id"]}
        only_a2 = (await admin.get("/tables/contact/", tenant=str(scene.a2.tenant.id))).json()
        assert [r["id"] for r in only_a2["rows"]] == [scene.a2.contact["id"]]
        await assert_no_write(admin, scene)
        # several tenants: a new row must name one of them
        response = await admin.send("POST", "/tables/purpose/", {"key": "x", "name": "X"})
        assert response.status_code == 422
        response = await admin.send("POST", "/tables/purpose/", {
            "key": "agency-made", "name": "Made by the agency", "tenant": str(scene.a2.tenant.id)})
        assert response.status_code == 201, response.text
        # moving a row between two of the agency's own tenants is refused too
        response = await admin.send("PATCH", f"/tables/purpose/{scene.a.purpose['id']}/",
                                    {"tenant": str(scene.a2.tenant.id)})
        assert response.status_code == 422
    finally:
        await admin.aclose()
    assert before == await snapshot(client, scene.b)
    purposes = (await client.get("/v1/purposes", headers=scene.a2.tenant.headers)).json()
    assert "agency-made" in {p["key"] for p in (purposes["items"] if "items" in purposes else purposes)}


async def test_viewer_reads_but_never_writes(client):
    scene = await make_scene()
    before = await snapshot(client, scene.a)
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    try:
        await assert_no_leak(admin, scene, {str(scene.a.tenant.id)})
        await assert_no_write(admin, scene, in_a=403)
        a = scene.a
        for method, path, body in (
            ("PATCH", f"/tables/contact/{a.contact['id']}/", {"first_name": "Eve"}),
            ("PUT", f"/tables/purpose/{a.purpose['id']}/", {"key": "k", "name": "N"}),
            ("DELETE", f"/tables/purpose/{a.purpose['id']}/", None),
            ("DELETE", f"/tables/contact/{a.contact['id']}/", None),
            ("POST", "/tables/contact/", {"email": "new@example.com"}),
            ("POST", "/tables/purpose/", {"key": "new", "name": "New"}),
        ):
            response = await admin.send(method, path, body)
            assert response.status_code == 403, (method, path, response.status_code, response.text)
    finally:
        await admin.aclose()
    assert before == await snapshot(client, scene.a)


async def test_ledger_and_projection_are_read_only_for_everyone(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(superuser=True))
    try:
        event = scene.a.event["id"]
        for method in ("PATCH", "PUT", "DELETE"):
            response = await admin.send(method, f"/tables/consent_event/{event}/", {"channel": "sms"})
            assert response.status_code == 405, response.text
        response = await admin.send("POST", "/tables/consent_event/", {"channel": "sms"})
        assert response.status_code == 405
        response = await admin.send("PATCH", f"/tables/notice/{scene.a.notice['id']}/", {"text": "x"})
        assert response.status_code == 403
    finally:
        await admin.aclose()
