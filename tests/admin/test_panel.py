"""Staff tables, the login lock, API-key forms, contact edits, the dashboard and
the row-level-security policy for several tenants."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from optinbase import db
from tenants import service
from tests.admin.scene import make_scene
from tests.admin.staff import PASSWORD, csrf, login, make_staff, new_http
from tests.factories import as_owner, make_contact


async def test_staff_tables_are_superuser_only(client):
    scene = await make_scene()
    for staff in (await make_staff(tenant=scene.a.tenant.slug),
                  await make_staff(agency=scene.agency),
                  await make_staff(tenant=scene.a.tenant.slug, role="viewer")):
        admin = await login(client, staff)
        try:
            for table in ("staff_user", "membership", "staff_session"):
                for path in ("/", "/count/", "/ids/", "/1/", "/schema/"):
                    assert (await admin.get(f"/tables/{table}{path}")).status_code == 404
                assert (await admin.send("POST", f"/tables/{table}/", {"username": "x"})
                        ).status_code in (404, 405)
            assert not {"staff_user", "membership", "staff_session"} & set(
                (await admin.get("/tables/")).json())
            keys = await admin.get("/tables/api_key/")
            assert keys.status_code == 200 and "$argon2" not in keys.text
            assert all(row["secret_hash"] is None for row in keys.json()["rows"])
            for params in ({"__visible_fields": "id,secret_hash"}, {"__order": "secret_hash"},
                           {"secret_hash": "$argon2"}):
                assert (await admin.get("/tables/api_key/", **params)).status_code == 400
        finally:
            await admin.aclose()
    root = await login(client, await make_staff(superuser=True))
    try:
        assert (await root.get("/tables/staff_user/")).status_code == 200
    finally:
        await root.aclose()


async def test_wrong_password_twenty_times_locks_out_then_lock_expires(backend, monkeypatch):
    from api.app import create_app

    monkeypatch.setenv("ADMIN_LOGIN_LOCK_SECONDS", "1")
    transport = httpx.ASGITransport(app=create_app(), raise_app_exceptions=False)
    email = await make_staff(superuser=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        token = await csrf(http)

        async def attempt(password: str) -> int:
            response = await http.post("/admin/public/login/", headers={"X-CSRFToken": token},
                                       json={"username": email, "password": password})
            return response.status_code

        assert [await attempt("wrong password!") for _ in range(20)] == [401] * 20
        assert await attempt(PASSWORD) == 429  # locked, even with the right password
        await asyncio.sleep(1.2)
        assert await attempt(PASSWORD) == 200


async def test_a_disabled_account_cannot_log_in_and_its_sessions_end(client):
    email = await make_staff(superuser=True)
    open_session = await login(client, email)
    try:
        assert (await open_session.get("/tables/staff_user/")).status_code == 200
        async with as_owner():
            await service.disable_staff(email)
        assert (await open_session.get("/tables/staff_user/")).status_code == 401
        http = new_http(client)
        token = await csrf(http)
        refused = await http.post("/admin/public/login/", headers={"X-CSRFToken": token},
                                  json={"username": email, "password": PASSWORD})
        assert refused.status_code == 401 and not http.cookies.get("id")
        await http.aclose()
    finally:
        await open_session.aclose()


async def test_api_key_forms_show_the_key_once_and_revoke(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    viewer = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    try:
        created = await admin.send("POST", "/forms/create-api-key/", {"name": "crm"})
        assert created.status_code == 200, created.text
        key = created.json()["custom_form_success"].rsplit(" ", 1)[-1]
        assert key.startswith("obk_")
        me = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {key}"})
        assert me.json()["slug"] == scene.a.tenant.slug
        listed = await admin.get("/tables/api_key/")
        secret = key.split("_", 2)[2]  # the secret itself may contain "_"
        assert secret and secret not in listed.text  # the secret is never shown again
        # someone else's tenant, a viewer, then a real revoke
        foreign = await admin.send("POST", "/forms/create-api-key/", {"tenant": scene.b.tenant.slug})
        assert foreign.status_code == 422
        b_key_id = scene.b.tenant.key.split("_")[1]
        assert (await admin.send("POST", "/forms/revoke-api-key/", {"key_id": b_key_id})
                ).status_code == 422
        assert (await viewer.send("POST", "/forms/revoke-api-key/", {"key_id": key})
                ).status_code == 422
        revoked = await admin.send("POST", "/forms/revoke-api-key/", {"key_id": key})
        assert revoked.status_code == 200, revoked.text
        me = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 401
        assert (await client.get("/v1/tenant", headers=scene.b.tenant.headers)).status_code == 200
    finally:
        await admin.aclose()
        await viewer.aclose()


async def test_contact_edit_goes_through_the_service(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="editor"))
    try:
        contact = scene.a.contact["id"]
        response = await admin.send("PATCH", f"/tables/contact/{contact}/",
                                     {"email": "Anne@Example.FR", "first_name": "Anne"})
        assert response.status_code == 200, response.text
        shown = (await client.get(f"/v1/contacts/{contact}", headers=scene.a.tenant.headers)).json()
        assert shown["email"] == "anne@example.fr" and shown["first_name"] == "Anne"
        duplicate = await admin.send("POST", "/tables/contact/", {"email": "anne@example.fr"})
        assert duplicate.status_code == 409
        created = await admin.send("POST", "/tables/contact/", {"email": "new@example.fr"})
        assert created.status_code == 201, created.text
        # erasure is the DPO's and owner's
        assert (await admin.send("DELETE", f"/tables/contact/{contact}/")).status_code == 403
    finally:
        await admin.aclose()
    dpo = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="dpo"))
    try:
        foreign = await dpo.send("DELETE", f"/tables/contact/{scene.b.contact['id']}/")
        assert foreign.status_code == 404
        erased = await dpo.send("DELETE", f"/tables/contact/{contact}/")
        assert erased.status_code == 204, erased.text
        gone = await client.get(f"/v1/contacts/{contact}", headers=scene.a.tenant.headers)
        assert gone.status_code == 404
        listed = await client.get("/v1/suppressions/check", params={"email": "anne@example.fr"},
                                  headers=scene.a.tenant.headers)
        assert listed.json()["suppressed"] is True
        verify = (await client.get("/v1/ledger/verify", headers=scene.a.tenant.headers)).json()
        assert verify["ok"] is True
        assert (await client.get(f"/v1/contacts/{scene.b.contact['id']}",
                                 headers=scene.b.tenant.headers)).status_code == 200
    finally:
        await dpo.aclose()


async def test_dashboard_renders_for_each_tenant_of_an_agency(client):
    scene = await make_scene()
    await make_contact(scene.a2.tenant)
    http = new_http(client)
    assert (await http.get("/admin/dashboard/")).status_code == 303
    await http.aclose()
    admin = await login(client, await make_staff(agency=scene.agency))
    try:
        for world in (scene.a, scene.a2):
            page = await admin.http.get("/admin/dashboard/", params={"tenant": str(world.tenant.id)})
            assert page.status_code == 200
            assert 'data-channel="email"' in page.text and "<svg" in page.text
            assert str(world.tenant.id) in page.text
        foreign = await admin.http.get("/admin/dashboard/", params={"tenant": str(scene.b.tenant.id)})
        assert str(scene.b.tenant.id) not in foreign.text
    finally:
        await admin.aclose()


async def test_policy_accepts_a_list_of_tenants_and_fails_closed(backend):
    if backend != "postgres":
        pytest.skip("row-level security is PostgreSQL's wall")
    from tenants.envelope import staff

    scene = await make_scene()
    a, a2, b = (w.tenant.id for w in (scene.a, scene.a2, scene.b))

    async def visible(ids: list[uuid.UUID]) -> set:
        async with staff(ids, write=False):
            rows = await db.fetch("SELECT tenant_id FROM contact")
        return {r["tenant_id"] for r in rows}

    assert await visible([]) == set()
    assert await visible([a]) == {a}
    assert await visible([a, a2]) == {a, a2}
    with pytest.raises(Exception, match="row-level security"):
        async with staff([a, a2], write=True):
            await db.execute(
                "INSERT INTO purpose (id, tenant_id, key, name, description, legal_basis,"
                " dpv_purpose, retired, created_at) VALUES ({}, {}, 'x', 'x', '', 'consent', '',"
                " false, now())", uuid.uuid4(), b,
            )
