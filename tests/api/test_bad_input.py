"""Bad input gets a clear 4xx problem naming the fault, and nothing is written."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import make_tenant, make_world


async def _snapshot(client, world) -> tuple:
    h = world.tenant.headers
    contacts = (await client.get("/v1/contacts", params={"limit": 500}, headers=h)).json()
    ledger = (await client.get("/v1/ledger/verify", headers=h)).json()
    notices = (await client.get("/v1/notices", headers=h)).json()
    purposes = (await client.get("/v1/purposes", headers=h)).json()
    return (
        sorted((c["id"], c["updated_at"]) for c in contacts["items"]),
        ledger["events"],
        len(notices),
        len(purposes),
    )


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


CONSENT = {"channel": "email", "purpose": "newsletter", "action": "grant", "method": "api"}

CASES = [
    # (name, method, path, body or raw bytes, expected status, text the problem must mention)
    ("malformed json", "POST", "/v1/contacts", b'{"email": "x@example.com"', 400, ""),
    ("not an object", "POST", "/v1/contacts", b"[1, 2]", 422, "object"),
    ("unknown field", "POST", "/v1/contacts", {"email": "a@example.com", "emial": "x"}, 422,
     "emial"),
    ("invalid email", "POST", "/v1/contacts", {"email": "not-an-address"}, 422, "email"),
    ("invalid phone", "POST", "/v1/contacts", {"phone": "+33 12"}, 422, "phone"),
    ("no identifier", "POST", "/v1/contacts", {"first_name": "Ann"}, 422, "identifier"),
    ("wrong type", "POST", "/v1/contacts", {"email": "b@example.com", "birth_year": "nineteen-eighty"}, 422,
     "birth_year"),
    ("unknown purpose", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "purpose": "nope", "notice_id": "{notice}"}, 422, "purpose"),
    ("unknown notice", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{random}"}, 422, "notice_id"),
    ("grant without notice", "POST", "/v1/contacts/{contact}/consents", CONSENT, 422,
     "notice_id"),
    ("notice for another channel", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "channel": "postal", "notice_id": "{notice}"}, 422, "postal"),
    ("unknown channel", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "channel": "fax", "notice_id": "{notice}"}, 422, "channel"),
    ("unknown consent field", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{notice}", "double_optin": True}, 422, "double_optin"),
    ("collected in the future", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{notice}", "collected_at": "2999-01-01T00:00:00Z"}, 422,
     "collected_at"),
    ("bad ip", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{notice}", "ip": "999.1.1.1"}, 422, "ip"),
    ("notice without channels", "POST", "/v1/notices",
     {"purpose": "newsletter", "channels": [], "language": "en", "text": "t"}, 422, "channels"),
    ("duplicate purpose", "POST", "/v1/purposes", {"key": "newsletter", "name": "N"}, 409,
     "newsletter"),
    ("bad purpose key", "POST", "/v1/purposes", {"key": "Bad Key!", "name": "N"}, 422, "key"),
    ("patch to invalid email", "PATCH", "/v1/contacts/{contact}", {"email": "@@"}, 422, "email"),
    ("patch clearing the last identifiers", "PATCH", "/v1/contacts/{contact}",
     {"email": None, "phone": None}, 422, "identifier"),
    ("bad cursor", "GET", "/v1/contacts?cursor=%%%", None, 422, "cursor"),
    ("limit too large", "GET", "/v1/contacts?limit=100000", None, 422, "limit"),
    ("batch too large", "POST", "/v1/consent-check",
     {"items": [{"email": "a@example.com", "channel": "email", "purpose": "newsletter"}] * 1001},
     422, "items"),
]


def _fill(value, world):
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, str):
        return value.format(contact=world.contact["id"], notice=world.notice["id"],
                            random=uuid.uuid4())
    return value


@pytest.mark.parametrize(("name", "method", "path", "body", "status", "mentions"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_input_is_refused_and_writes_nothing(
    client, name, method, path, body, status, mentions
):
    world = await make_world(await make_tenant())
    before = await _snapshot(client, world)
    kwargs: dict = {"headers": {**world.tenant.headers, "Content-Type": "application/json"}}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = _fill(body, world)
    response = await client.request(method, _fill(path, world), **kwargs)
    problem = _problem(response, status)
    assert mentions.lower() in str(problem).lower()
    assert await _snapshot(client, world) == before


async def test_oversized_body_is_413_and_writes_nothing(client):
    world = await make_world(await make_tenant())
    before = await _snapshot(client, world)
    huge = {"email": "big@example.com", "attributes": {"blob": "x" * 2_000_000}}
    problem = _problem(
        await client.post("/v1/contacts", json=huge, headers=world.tenant.headers), 413
    )
    assert "bytes" in problem["detail"]
    assert await _snapshot(client, world) == before


async def test_error_after_a_write_rolls_the_request_back(client):
    """A failing request that already wrote (the ledger append precedes the state
    update) leaves nothing: the whole request is one transaction."""
    world = await make_world(await make_tenant())
    before = await _snapshot(client, world)
    # Same identifier as an existing contact, set through PATCH on another contact.
    other = (await client.post("/v1/contacts", json={"email": "other@example.com"},
                               headers=world.tenant.headers)).json()
    before = await _snapshot(client, world)
    clash = await client.patch(f"/v1/contacts/{other['id']}",
                               json={"first_name": "Zed", "email": world.contact["email"]},
                               headers=world.tenant.headers)
    assert clash.status_code == 409
    assert await _snapshot(client, world) == before
    fetched = (await client.get(f"/v1/contacts/{other['id']}", headers=world.tenant.headers)).json()
    assert fetched["first_name"] is None
