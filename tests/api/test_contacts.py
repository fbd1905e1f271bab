from tests.factories import make_contact, make_tenant


async def test_create_normalises_identifiers(client):
    tenant = await make_tenant(country="FR")
    created = await client.post(
        "/v1/contacts",
        json={"email": "  Anne.Martin@Exemple.FR ", "phone": "06 12 34 56 78",
              "external_id": " crm-1 ", "country": "FR", "birth_year": 1985,
              "attributes": {"interest": "running"}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "anne.martin@exemple.fr"
    assert body["phone"] == "+33612345678"
    assert body["external_id"] == "crm-1"
    assert body["attributes"] == {"interest": "running"}
    fetched = await client.get(f"/v1/contacts/{body['id']}", headers=tenant.headers)
    assert fetched.json() == body


async def test_duplicate_identifier_is_409_with_existing_id(client):
    tenant = await make_tenant()
    first = await make_contact(tenant, email="dup@example.com", phone="+33612345679")
    for payload in ({"email": "DUP@example.com"}, {"phone": "+33 6 12 34 56 79"}):
        answer = await client.post("/v1/contacts", json=payload, headers=tenant.headers)
        assert answer.status_code == 409
        assert answer.json()["existing_id"] == first["id"]


async def test_patch_changes_only_given_fields_and_null_clears(client):
    tenant = await make_tenant()
    contact = await make_contact(tenant, first_name="Ann", last_name="Lee",
                                 phone="+33612345670")
    patched = await client.patch(
        f"/v1/contacts/{contact['id']}", json={"first_name": "Anne", "last_name": None},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Anne", None, "+33612345670")
    assert body["updated_at"] > contact["updated_at"]
    audit = (await client.get("/v1/audit-events", headers=tenant.headers)).json()["items"]
    assert audit[-1]["action"] == "contact.updated"
    assert audit[-1]["details"] == {"fields": ["first_name", "last_name"]}
    # Audit details never carry the values themselves (personal data).
    assert "Anne" not in str(audit)


async def test_list_filters_and_cursor_pagination(client):
    tenant = await make_tenant()
    made = [await make_contact(tenant) for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/contacts", params=params, headers=tenant.headers)).json()
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(c["id"] for c in made)
    assert len(seen) == len(set(seen))
    one = (await client.get("/v1/contacts", params={"email": made[3]["email"].upper()},
                            headers=tenant.headers)).json()
    assert [c["id"] for c in one["items"]] == [made[3]["id"]]


async def test_idempotent_retry_returns_the_first_answer(client):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "retry-1"}
    first = await client.post("/v1/contacts", json={"email": "idem@example.com"}, headers=headers)
    second = await client.post("/v1/contacts", json={"email": "idem@example.com"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replay"] == "true"
    listed = (await client.get("/v1/contacts", headers=tenant.headers)).json()["items"]
    assert len(listed) == 1
    other_body = await client.post("/v1/contacts", json={"email": "else@example.com"},
                                   headers=headers)
    assert other_body.status_code == 409
    assert "Idempotency-Key" in other_body.json()["detail"]


async def test_failed_request_does_not_burn_its_idempotency_key(client):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "retry-2"}
    bad = await client.post("/v1/contacts", json={"email": "nope"}, headers=headers)
    assert bad.status_code == 422
    good = await client.post("/v1/contacts", json={"email": "fixed@example.com"}, headers=headers)
    assert good.status_code == 201
