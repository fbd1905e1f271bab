"""The admin's form builder over HTTP, on both engines: the preview renders a
draft as the hosted form (escaped, never pre-checked) and stores nothing;
saving makes the next version live at the embed URL, audited as the staff
member; another tenant's ids answer 404 as if absent; a viewer may look, not
save; hostile drafts are refused with a message naming what is wrong. The
browser's side is tests/e2e/browser/test_form_builder.py."""

from __future__ import annotations

import httpx

from tests.admin.scene import make_scene
from tests.admin.staff import Admin, login, make_staff

BASE = "/admin/form-builder/"


async def post(admin: Admin, path: str, body: object) -> httpx.Response:
    return await admin.http.post(path, json=body, headers={
        "X-CSRFToken": admin.http.cookies.get("csrftoken", "")})


def draft(purpose: str, **changes: object) -> dict:
    return {"name": "Footer", "purposes": [purpose], "channels": ["email"], "language": "en",
            "fields": [{"name": "email", "required": True}], **changes}


async def audit_of(client: httpx.AsyncClient, tenant, action: str) -> list[dict]:
    events = (await client.get("/v1/audit-events", params={"limit": 200},
                               headers=tenant.headers)).json()
    items = events["items"] if isinstance(events, dict) else events
    return [e for e in items if e["action"] == action]


async def test_preview_save_and_scoping(client):
    scene = await make_scene()
    a, purpose = scene.a.tenant, scene.a.purpose["key"]
    staff = await make_staff(tenant=a.slug)
    manager = await login(client, staff)
    viewer = await login(client, await make_staff(tenant=a.slug, role="viewer"))
    outsider = await login(client, await make_staff(tenant=scene.b.tenant.slug))
    try:
        page = await manager.http.get(f"{BASE}{a.id}/new/")
        assert page.status_code == 200 and 'id="preview"' in page.text
        assert 'sandbox="allow-same-origin"' in page.text  # the preview runs no script

        hostile = draft(purpose, texts={"title": "<script>alert(1)</script>Join"},
                        fields=[{"name": "email", "required": True,
                                 "label": '<img src=x onerror="alert(2)">Mail'}])
        shown = await post(manager, f"{BASE}{a.id}/preview/", {"definition": hostile})
        assert shown.status_code == 200, shown.text
        html = shown.json()["html"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;Join" in html and "<script>" not in html
        assert "&lt;img src=x" in html and "<img src=x" not in html
        assert 'type="checkbox"' in html and "checked" not in html  # never pre-checked
        listed = await client.get("/v1/forms", headers=a.headers)
        assert listed.json() == []  # a preview stores nothing

        saved = await post(manager, f"{BASE}{a.id}/save/", {"definition": draft(purpose)})
        assert saved.status_code == 200, saved.text
        out = saved.json()
        assert out["version"] == 1 and out["id"] in out["script"] and out["id"] in out["iframe"]
        again = await post(manager, f"{BASE}{a.id}/save/", {
            "form_id": out["id"], "definition": draft(purpose, texts={"title": "Join us now"})})
        assert again.json()["version"] == 2, again.text
        live = await client.get(out["url"].split("127.0.0.1:8000", 1)[-1])
        assert live.status_code == 200 and "Join us now" in live.text
        trail = await audit_of(client, a, "form.saved")
        assert sorted(r["details"]["version"] for r in trail) == [1, 2]
        assert {r["actor"] for r in trail} == {f"staff:{staff}"}
        editor = await manager.http.get(f"{BASE}{a.id}/{out['id']}/")
        assert editor.status_code == 200 and "Join us now" in editor.text
        assert "embed.js" in editor.text  # the snippets of the saved version

        # Another tenant's staff: the tenant, the form and its pages are absent.
        for path in (f"{BASE}{a.id}/{out['id']}/", f"{BASE}{a.id}/new/",
                     f"{BASE}{scene.b.tenant.id}/{out['id']}/", f"{BASE}{a.id}/not-a-uuid/"):
            who = manager if str(scene.b.tenant.id) in path or "not-a" in path else outsider
            assert (await who.http.get(path)).status_code == 404, path
        for path, body in ((f"{BASE}{a.id}/preview/", {"definition": draft(purpose)}),
                           (f"{BASE}{a.id}/save/", {"form_id": out["id"],
                                                    "definition": draft(purpose)})):
            assert (await post(outsider, path, body)).status_code == 404
        b_purpose = scene.b.purpose["key"]
        foreign = await post(manager, f"{BASE}{scene.b.tenant.id}/save/",
                             {"definition": draft(b_purpose)})
        assert foreign.status_code == 404
        theirs = await client.post("/v1/forms", json=draft(b_purpose), headers=scene.b.tenant.headers)
        assert theirs.status_code == 201, theirs.text
        for form_id in (theirs.json()["id"], "00000000-0000-4000-8000-000000000000"):
            cross = await post(manager, f"{BASE}{a.id}/save/",
                               {"form_id": form_id, "definition": draft(purpose)})
            assert cross.status_code == 404, cross.text
            assert (await manager.http.get(f"{BASE}{a.id}/{form_id}/")).status_code == 404

        # A viewer sees the builder but cannot save.
        assert (await viewer.http.get(f"{BASE}{a.id}/{out['id']}/")).status_code == 200
        refused = await post(viewer, f"{BASE}{a.id}/save/", {"definition": draft(purpose)})
        assert refused.status_code == 403 and "role" in refused.json()["error"]

        # Hostile drafts: a clear message naming what is wrong.
        for body, why in (
                (draft(purpose, fields=[{"name": "email", "required": True},
                                        {"name": "bogus name"}]), "fields[1].name"),
                (draft(purpose, fields=[{"name": "email", "required": True}]
                       + [{"name": f"attributes.a{i}"} for i in range(40)]), "fields:"),
                (draft(purpose, fields=[{"name": "email", "required": True,
                                         "label": "x" * 500}]), "fields[0].label"),
                (draft(purpose, fields=[{"name": "first_name"}]), "must include email"),
                (draft("no-such-purpose"), "no notice"),
                (draft(purpose, allowed_origins=["javascript:alert(1)"]), "allowed_origins")):
            answer = await post(manager, f"{BASE}{a.id}/preview/", {"definition": body})
            assert answer.status_code == 422 and why in answer.json()["error"], answer.text
            assert answer.json()["error"].startswith("The form cannot be used as it is")
        huge = draft(purpose, texts={"intro": "x" * 70_000})
        too_big = await post(manager, f"{BASE}{a.id}/save/", {"definition": huge})
        assert too_big.status_code == 413 and "too large" in too_big.json()["error"]
        nested = await post(manager, f"{BASE}{a.id}/preview/", {"definition": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
        assert nested.status_code in (400, 422)
        nul = await post(manager, f"{BASE}{a.id}/save/", {"definition": draft(purpose, name="A\x00b")})
        assert nul.status_code == 422 and "NUL" in nul.text  # the admin's edge (api.guard)

        # CSRF: a write without the header is refused like every admin write.
        forged = await manager.http.post(f"{BASE}{a.id}/save/", json={"definition": draft(purpose)})
        assert forged.status_code == 403
        listed = (await client.get("/v1/forms", headers=a.headers)).json()
        assert [f["version"] for f in listed] == [2]
    finally:
        for who in (manager, viewer, outsider):
            await who.aclose()
