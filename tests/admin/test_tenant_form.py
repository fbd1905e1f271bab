"""The admin's "Branding and legal information" form, on both engines: it
saves through the service that `PATCH /v1/tenant` uses, refuses what the API
refuses, is for managers (a viewer cannot), names no other tenant, and the
subscribe page shows the result."""

from __future__ import annotations

from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff

FORM = "/forms/branding-and-legal-information/"


async def test_branding_form_saves_validates_and_is_scoped(client):
    scene = await make_scene()
    manager = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    viewer = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    try:
        saved = await manager.send("POST", FORM, {
            "legal_name": "Alpha SAS", "primary_color": "#7c2d12", "sender_name": "Alpha",
            "logo_url": "https://alpha.example/logo.png", "dpo_email": "DPO@Alpha.example",
            "address": "1 rue Alpha\n75001 Paris", "footer_text": "Alpha, since 1920"})
        assert saved.status_code == 200, saved.text
        settings = (await client.get("/v1/tenant", headers=scene.a.tenant.headers)).json()
        assert settings["legal_name"] == "Alpha SAS" and settings["dpo_email"] == "dpo@alpha.example"
        assert settings["settings"]["primary_color"] == "#7c2d12"
        assert settings["settings"]["footer_text"] == "Alpha, since 1920"
        page = await client.get(f"/p/{scene.a.tenant.slug}/subscribe")
        assert "--primary: #7c2d12" in page.text and 'src="https://alpha.example/logo.png"' in page.text
        assert "1 rue Alpha" in page.text and "Alpha, since 1920" in page.text

        for bad in ({"primary_color": "red"}, {"logo_url": "javascript:alert(1)"},
                    {"reply_to": "x@y.example\r\nBcc: v@example.com"}):
            refused = await manager.send("POST", FORM, bad)
            assert refused.status_code == 422, (bad, refused.text)
        # Blank keeps, "-" clears.
        assert (await manager.send("POST", FORM, {"logo_url": "-"})).status_code == 200
        # (GET /v1/tenant may answer from the API's short tenant cache; pages read afresh.)
        page = await client.get(f"/p/{scene.a.tenant.slug}/subscribe")
        assert "alpha.example/logo.png" not in page.text and "--primary: #7c2d12" in page.text

        for slug in (scene.b.tenant.slug, "no-such-tenant"):
            elsewhere = await manager.send("POST", FORM, {"tenant": slug, "sender_name": "X"})
            assert elsewhere.status_code == 422 and f"No tenant {slug!r}" in elsewhere.text
        assert (await viewer.send("POST", FORM, {"sender_name": "Viewer"})).status_code == 422
        other = (await client.get("/v1/tenant", headers=scene.b.tenant.headers)).json()
        assert "sender_name" not in other["settings"] or other["settings"]["sender_name"] != "X"
        mine = (await client.get("/v1/tenant", headers=scene.a.tenant.headers)).json()
        assert mine["settings"]["sender_name"] == "Alpha"
    finally:
        await manager.aclose()
        await viewer.aclose()
