"""The connected ends in the admin, on both engines: a manager connects an
e-mail provider and saves versions of an embeddable form through the same
services as the API; a viewer and another tenant's slug are refused."""

from __future__ import annotations

import re

from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff


async def test_provider_endpoint_and_form_builder(client):
    scene = await make_scene()
    manager = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    viewer = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="viewer"))
    try:
        made = await manager.send("POST", "/forms/connect-an-e-mail-provider/",
                                  {"provider": "brevo"})
        assert made.status_code == 200, made.text
        message = made.json()["custom_form_success"]
        assert f"/inbound/brevo/{scene.a.tenant.id.hex}" in message and "token: " in message
        listed = (await client.get("/v1/inbound-endpoints",
                                   headers=scene.a.tenant.headers)).json()
        assert [e["provider"] for e in listed] == ["brevo"]
        for who, body, why in (
                (viewer, {"provider": "ses", "tenant": scene.a.tenant.slug}, "role"),
                (manager, {"provider": "ses", "tenant": scene.b.tenant.slug}, "No tenant"),
                (manager, {"provider": "sendgrid"}, "verification_key"),
                (manager, {"provider": "ses", "topic_arn": "arn:evil"}, "topic_arn")):
            refused = await who.send("POST", "/forms/connect-an-e-mail-provider/", body)
            assert refused.status_code == 422 and why in refused.text, refused.text

        purpose = scene.a.purpose["key"]
        saved = await manager.send("POST", "/forms/save-an-embeddable-form/", {
            "name": "Footer", "purposes": purpose, "channels": "email", "language": "en",
            "allowed_origins": "https://shop.example.com", "title": "Join us"})
        assert saved.status_code == 200, saved.text
        text = saved.json()["custom_form_success"]
        form_id = re.search(r"Form (\S+) version 1 saved", text).group(1)
        preview = re.search(r"Preview: (\S+)", text).group(1)
        page = await client.get(preview.split("127.0.0.1:8000", 1)[-1])
        assert page.status_code == 200 and "Join us" in page.text
        again = await manager.send("POST", "/forms/save-an-embeddable-form/", {
            "form_id": form_id, "name": "Footer", "purposes": purpose, "channels": "email",
            "language": "en", "title": "Join us now"})
        assert "version 2 saved" in again.json()["custom_form_success"], again.text
        bad = await manager.send("POST", "/forms/save-an-embeddable-form/", {
            "name": "X", "purposes": "no-such-purpose", "channels": "email"})
        assert bad.status_code == 422, bad.text
    finally:
        await manager.aclose()
        await viewer.aclose()
