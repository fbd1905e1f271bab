"""Admin forms that don't ask for UUIDs, on both engines: the request forms offer
the staff member's open requests as a pick-list (person, kind, due date) and
accept the person's e-mail instead of an id; the erasure form takes the contact's
e-mail. Another tenant's requests are never offered nor reachable by e-mail."""

from __future__ import annotations

from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff
from tests.factories import make_request


async def test_request_forms_pick_from_a_list_or_by_email(client):
    scene = await make_scene()
    mine = await make_request(scene.a.tenant, scene.a.contact["email"], kind="access",
                              identity_verified=True)
    theirs = await make_request(scene.b.tenant, scene.b.contact["email"], kind="access",
                                identity_verified=True)
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    try:
        for form in ("extend-deadline", "complete-request", "reject-request", "verify-identity"):
            schema = (await admin.get(f"/forms/{form}/schema/")).json()
            choices = schema["properties"]["request_id"]["extra"]["choices"]
            assert set(choices) == {mine["id"]}, form
            label = choices[mine["id"]]["display_name"]
            assert scene.a.contact["email"] in label and "access" in label and "due " in label
            assert theirs["id"] not in str(schema)
        # Key and session forms carry no pick-list (their `extra` holds help texts only).
        assert "choices" not in str((await admin.get("/forms/create-api-key/schema/")).json())

        by_email = await admin.send("POST", "/forms/extend-deadline/", {
            "request_id": scene.a.contact["email"].upper(), "months": "1", "reason": "archives"})
        assert by_email.status_code == 200 and mine["id"] in by_email.text, by_email.text
        foreign = await admin.send("POST", "/forms/reject-request/", {
            "request_id": scene.b.contact["email"], "reason": "x"})
        assert foreign.status_code == 422 and "No request for" in foreign.text
        nonsense = await admin.send("POST", "/forms/reject-request/", {
            "request_id": "not-an-id", "reason": "x"})
        assert nonsense.status_code == 422 and "Pick the request" in nonsense.text
    finally:
        await admin.aclose()
    after = (await client.get(f"/v1/requests/{theirs['id']}",
                              headers=scene.b.tenant.headers)).json()
    assert after["status"] == "verified" and after["extended_months"] == 0


async def test_erase_contact_by_email(client):
    scene = await make_scene()
    dpo = await login(client, await make_staff(tenant=scene.a.tenant.slug, role="dpo"))
    try:
        foreign = await dpo.send("POST", "/forms/erase-contact/", {
            "contact_id": scene.b.contact["email"], "confirm": True})
        assert foreign.status_code == 422 and "No contact for" in foreign.text
        erased = await dpo.send("POST", "/forms/erase-contact/", {
            "contact_id": scene.a.contact["email"], "confirm": True})
        assert erased.status_code == 200, erased.text
    finally:
        await dpo.aclose()
    assert (await client.get(f"/v1/contacts/{scene.a.contact['id']}",
                             headers=scene.a.tenant.headers)).status_code == 404
    assert (await client.get(f"/v1/contacts/{scene.b.contact['id']}",
                             headers=scene.b.tenant.headers)).status_code == 200


async def test_forms_answer_in_the_browsers_language(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    request = await make_request(scene.a.tenant, scene.a.contact["email"], kind="access",
                                 identity_verified=True)

    async def send(form, body, language):
        return await admin.http.post(f"/admin/api/forms/{form}/", json=body, headers={
            "X-CSRFToken": admin.http.cookies.get("csrftoken", ""), "Accept-Language": language})

    try:
        french = await send("add-suppression", {"email": "ann@example.com", "channel": "sms",
                                                "reason": "objection"}, "fr-FR,fr;q=0.9")
        assert french.json()["custom_form_success"] == "Inscrit pour sms (objection)."
        refused = await send("reject-request", {"request_id": "x@example.com", "reason": "x"},
                             "fr")
        assert refused.status_code == 422 and "Aucune demande ouverte pour" in refused.text
        english = await send("extend-deadline", {"request_id": request["id"], "months": "1",
                                                 "reason": "archives"}, "en-GB")
        assert "extended by 1 month(s)" in english.text and "status now verified" in english.text
    finally:
        await admin.aclose()
