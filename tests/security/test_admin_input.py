"""The admin panel meets the same edge (api.guard through admin.gate): a NUL in
a write, a filter, an ordering or the login form is a 4xx, never a 500 from
PostgreSQL nor a NUL stored by SQLite."""

from __future__ import annotations

from tests.admin.scene import make_scene, snapshot
from tests.admin.staff import csrf, login, make_staff, new_http


async def test_a_nul_in_the_admin_is_refused_and_changes_nothing(client):
    scene = await make_scene()
    before = await snapshot(client, scene.a)
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="owner"))
    contact = scene.a.contact["id"]
    try:
        for method, path, body in (
            ("PATCH", f"/tables/contact/{contact}/", {"first_name": "A\x00b"}),
            ("POST", "/tables/contact/", {"email": "nn@example.fr", "last_name": "x\x00"}),
            ("POST", "/tables/purpose/", {"key": "nulkey", "name": "x\x00"}),
        ):
            answer = await admin.send(method, path, body)
            assert answer.status_code == 422, (method, path, answer.status_code, answer.text)
            assert "NUL" in answer.text
        for query in ("email=a%00b", "first_name=a%00b", "__order=first_name%00"):
            answer = await admin.http.get(f"/admin/api/tables/contact/?{query}")
            assert answer.status_code == 422, (query, answer.status_code, answer.text)
    finally:
        await admin.aclose()
    assert await snapshot(client, scene.a) == before


async def test_a_nul_in_the_login_form_is_refused(client):
    http = new_http(client)
    try:
        token = await csrf(http)
        answer = await http.post("/admin/public/login/", headers={"X-CSRFToken": token},
                                 json={"username": "a\x00b@example.com", "password": "x\x00"})
        assert answer.status_code == 422, answer.text
    finally:
        await http.aclose()
