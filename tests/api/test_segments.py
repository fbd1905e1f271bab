"""Segments through the API: CRUD, rule errors naming the bad node, count and
export limited to valid consent now, signed links, hashed audiences, audit,
scopes, injection strings as data, and the cross-tenant matrix."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import uuid

import pytest

from consent.tokens import verify_token
from optinbase import db
from optinbase.settings import get_settings
from tests.factories import (
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_tenant,
    make_world,
)

FR_OR_BE = {"type": "field", "field": "country", "op": "in", "value": ["FR", "BE"]}


async def _segment(client, tenant, rules=FR_OR_BE, name="France and Belgium") -> dict:
    response = await client.post("/v1/segments", json={"name": name, "rules": rules},
                                 headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def base(client):
    """Four people: FR granted, BE granted, DE granted, FR never asked."""
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    people = {}
    for name, country, phone in (("fr", "FR", "+33612345678"), ("be", "BE", None),
                                 ("de", "DE", "+4915112345678"), ("fr2", "FR", None)):
        fields = {"country": country, "first_name": name, "attributes": {"interest": "running"}}
        if phone:
            fields["phone"] = phone
        people[name] = await make_contact(tenant, **fields)
        if name != "fr2":
            await grant(tenant, people[name]["id"], notice["id"])
    segment = await _segment(client, tenant)
    return tenant, notice, people, segment


async def _count(client, tenant, segment_id, channel="email", purpose="newsletter"):
    response = await client.get(f"/v1/segments/{segment_id}/count",
                                params={"channel": channel, "purpose": purpose},
                                headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["count"]


async def _export(client, tenant, segment_id, fmt="csv", channel="email"):
    response = await client.get(f"/v1/segments/{segment_id}/export",
                                params={"channel": channel, "purpose": "newsletter",
                                        "format": fmt}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    if fmt == "ndjson":
        return [json.loads(line) for line in response.text.splitlines()]
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_crud(client):
    tenant = await make_tenant()
    created = await _segment(client, tenant)
    assert created["rules"] == FR_OR_BE and created["name"] == "France and Belgium"
    h = tenant.headers
    assert (await client.get(f"/v1/segments/{created['id']}", headers=h)).json() == created
    second = await _segment(client, tenant, {"type": "activity", "within_days": 30}, "Active")
    page = (await client.get("/v1/segments", params={"limit": 1}, headers=h)).json()
    assert [s["id"] for s in page["items"]] == [created["id"]]
    rest = (await client.get("/v1/segments", params={"cursor": page["next_cursor"]},
                             headers=h)).json()
    assert [s["id"] for s in rest["items"]] == [second["id"]] and rest["next_cursor"] is None
    patched = await client.patch(f"/v1/segments/{created['id']}", json={"name": "FR+BE"},
                                 headers=h)
    assert patched.status_code == 200
    assert patched.json()["name"] == "FR+BE" and patched.json()["rules"] == FR_OR_BE
    new_rules = {"type": "not", "rule": {"type": "field", "field": "postal_code",
                                         "op": "prefix", "value": "75"}}
    patched = await client.patch(f"/v1/segments/{created['id']}", json={"rules": new_rules},
                                 headers=h)
    assert patched.json()["rules"] == new_rules and patched.json()["name"] == "FR+BE"
    assert (await client.delete(f"/v1/segments/{created['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/segments/{created['id']}", headers=h)).status_code == 404
    audit = (await client.get("/v1/audit-events", params={"limit": 500}, headers=h)).json()
    actions = [e["action"] for e in audit["items"] if e["object_id"] == created["id"]]
    assert actions == ["segment.created", "segment.updated", "segment.updated",
                       "segment.deleted"]


def _field(field="country", op="eq", value="FR"):
    return {"type": "field", "field": field, "op": op, "value": value}


BAD_RULES = [
    # (name, rules, path named, text the message mentions)
    ("unknown type", {"type": "all", "rules": [_field(), {"type": "maybe"}]},
     "rules[1].type", "maybe"),
    ("unknown field", {"type": "all", "rules": [_field(), _field(field="shoe_size")]},
     "rules[1].field", "shoe_size"),
    ("unknown op", {"type": "all", "rules": [_field(), _field(op="like")]}, "rules[1].op", "like"),
    ("wrong value shape", {"type": "all", "rules": [_field(), _field("birth_year", "gt", "x")]},
     "rules[1].value", "int"),
    ("between needs two", _field("birth_year", "between", [1, 2, 3]), "value", "length 2"),
    ("in needs a list", {"type": "any", "rules": [_field(op="in", value="FR")]},
     "rules[0].value", "array"),
    ("in needs items", _field(op="in", value=[]), "value", "length"),
    ("missing value", {"type": "field", "field": "country", "op": "eq"}, "value", "required"),
    ("prefix on a number", _field("birth_year", "prefix", "19"), "op", "prefix"),
    ("bad attribute key", _field("attributes.a-b", "eq", "x"), "field", "attributes"),
    ("attribute kinds mixed", _field("attributes.x", "in", ["a", 1]), "value", "mixes"),
    ("naive timestamp", _field("created_at", "gt", "2026-01-01T00:00:00"), "value", "timezone"),
    ("deep list item", {"type": "not", "rule": _field(op="in", value=["FR", 3])},
     "rule.value[1]", "str"),
    ("unknown key in a node", {"type": "activity", "within_days": 5, "days": 3}, "days", "days"),
    ("activity bounds", {"type": "activity", "within_days": 0}, "within_days", ">= 1"),
    ("unknown purpose", {"type": "consent", "channel": "sms", "purpose": "never"},
     "purpose", "never"),
    ("unknown channel", {"type": "consent", "channel": "fax", "purpose": "newsletter"},
     "channel", "fax"),
    # Refused at the edge (api.guard), which names the path from the body's root.
    ("NUL in a value", _field(value="F\x00R"), "rules.value", "NUL"),
]


@pytest.mark.parametrize(("name", "rules", "path", "mentions"), BAD_RULES,
                         ids=[case[0] for case in BAD_RULES])
async def test_bad_rules_name_the_path(client, name, rules, path, mentions):
    world = await make_world(await make_tenant())
    response = await client.post("/v1/segments", json={"name": "x", "rules": rules},
                                 headers=world.tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == path
    assert mentions.lower() in error["message"].lower()
    listed = (await client.get("/v1/segments", headers=world.tenant.headers)).json()
    assert listed["items"] == []


async def test_rules_must_be_an_object(client):
    tenant = await make_tenant()
    response = await client.post("/v1/segments", json={"name": "x", "rules": []},
                                 headers=tenant.headers)
    assert response.status_code == 422
    assert "rules" in response.text


async def test_count_and_export_keep_only_valid_consent_now(client, base):
    tenant, notice, people, segment = base
    assert await _count(client, tenant, segment["id"]) == 2  # fr, be (fr2 never asked)
    assert await _count(client, tenant, segment["id"], channel="sms") == 0
    rows = await _export(client, tenant, segment["id"])
    assert sorted(r["first_name"] for r in rows) == ["be", "fr"]
    assert json.loads(rows[0]["attributes"]) == {"interest": "running"}
    lines = await _export(client, tenant, segment["id"], "ndjson")
    assert sorted(r["id"] for r in lines) == sorted(r["id"] for r in rows)
    assert lines[0]["attributes"] == {"interest": "running"}
    secret = get_settings().secret_key
    for row in rows + lines:
        assert row["unsubscribe_url"].startswith(get_settings().public_url + "/p/unsubscribe/")
        token = row["unsubscribe_url"].rsplit("/", 1)[1]
        assert row["preferences_url"].endswith("/p/preferences/" + token)
        subject = verify_token(secret, token)
        assert subject is not None
        assert (str(subject.contact_id), subject.tenant_id, subject.channel) == (
            row["id"], tenant.id, "email")
    # Withdrawal: gone from count and export at once.
    withdrawn = await client.post(
        f"/v1/contacts/{people['fr']['id']}/consents",
        json={"channel": "email", "purpose": "newsletter", "action": "withdraw",
              "method": "api"}, headers=tenant.headers)
    assert withdrawn.status_code == 201
    assert await _count(client, tenant, segment["id"]) == 1
    assert [r["first_name"] for r in await _export(client, tenant, segment["id"])] == ["be"]
    # An expired grant is not valid now.
    async with db.tenant_transaction(tenant.id):
        await db.execute(
            "UPDATE consent_state SET expires_at = {} WHERE tenant_id = {} AND contact_id = {}",
            dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
            tenant.id, uuid.UUID(people["be"]["id"]),
        )
    assert await _count(client, tenant, segment["id"]) == 0
    assert await _export(client, tenant, segment["id"], "ndjson") == []


async def test_hashed_csv_holds_only_digests(client, base):
    tenant, _, people, segment = base
    everyone = await _segment(client, tenant, {"type": "all", "rules": []}, "Everyone")
    response = await client.get(f"/v1/segments/{everyone['id']}/export",
                                params={"channel": "email", "purpose": "newsletter",
                                        "format": "hashed_csv"}, headers=tenant.headers)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert set(rows[0]) == {"email_sha256", "phone_sha256"}

    def sha(value):
        return hashlib.sha256(value.encode()).hexdigest() if value else ""

    expected = {(sha(people[n]["email"]), sha(people[n]["phone"])) for n in ("fr", "be", "de")}
    assert {(r["email_sha256"], r["phone_sha256"]) for r in rows} == expected
    assert sha("+33612345678") in response.text and "+33612345678" not in response.text
    assert people["fr"]["email"] not in response.text


async def test_every_export_is_audited(client, base):
    tenant, _, _, segment = base
    await _export(client, tenant, segment["id"], "ndjson")
    audit = (await client.get("/v1/audit-events", params={"limit": 500},
                              headers=tenant.headers)).json()["items"]
    events = [e for e in audit if e["object_id"] == segment["id"]
              and e["action"].startswith("segment.export")]
    assert [e["action"] for e in events] == ["segment.export_started", "segment.exported"]
    assert events[1]["details"] == {"channel": "email", "purpose": "newsletter",
                                    "format": "ndjson", "rows": 2, "complete": True}
    assert all(e["actor"].startswith("api_key:") for e in events)


async def test_unknown_purpose_and_bad_format_are_refused(client, base):
    tenant, _, _, segment = base
    path = f"/v1/segments/{segment['id']}"
    answer = await client.get(path + "/count", params={"channel": "email", "purpose": "nope"},
                              headers=tenant.headers)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "purpose"
    answer = await client.get(path + "/export", params={"channel": "email", "purpose": "newsletter",
                                                        "format": "xlsx"}, headers=tenant.headers)
    assert answer.status_code in (400, 422)
    answer = await client.get(path + "/count", params={"channel": "fax", "purpose": "newsletter"},
                              headers=tenant.headers)
    assert answer.status_code in (400, 422)


async def test_scopes(client, base):
    tenant, _, _, segment = base
    reader = await make_key_headers(tenant.id, ["segments:read"])
    assert (await client.get(f"/v1/segments/{segment['id']}", headers=reader)).status_code == 200
    assert (await client.post("/v1/segments", json={"name": "x", "rules": FR_OR_BE},
                              headers=reader)).status_code == 403
    params = {"channel": "email", "purpose": "newsletter"}
    export = f"/v1/segments/{segment['id']}/export"
    assert (await client.get(export, params=params, headers=reader)).status_code == 403
    exporter = await make_key_headers(tenant.id, ["exports"])
    assert (await client.get(export, params=params, headers=exporter)).status_code == 200


async def make_key_headers(tenant_id, scopes):
    from tests.factories import make_key

    return {"Authorization": f"Bearer {await make_key(tenant_id, scopes=scopes)}"}


INJECTIONS = ["x'); DROP TABLE contact; --", "' OR '1'='1", "FR' --", '"; DELETE FROM segment; --']


@pytest.mark.parametrize("value", INJECTIONS)
async def test_injection_strings_are_data(client, base, value):
    tenant, _, people, _ = base
    rules = {"type": "any", "rules": [
        _field(value=value), _field(op="in", value=[value, "ZZ"]),
        _field(op="prefix", value=value), _field("attributes.interest", "eq", value),
        _field("attributes.interest", "between", [value, value + "z"]),
    ]}
    segment = await _segment(client, tenant, rules, name=value)
    assert segment["name"] == value
    assert await _count(client, tenant, segment["id"]) == 0
    assert await _export(client, tenant, segment["id"]) == []
    contacts = (await client.get("/v1/contacts", headers=tenant.headers)).json()["items"]
    assert len(contacts) == 4
    assert len((await client.get("/v1/segments", headers=tenant.headers)).json()["items"]) == 2
    key = await client.post("/v1/segments", json={"name": "k", "rules": _field(
        f"attributes.{value}", "eq", "x")}, headers=tenant.headers)
    assert key.status_code == 422 and key.json()["errors"][0]["field"] == "field"


# --- cross-tenant matrix (same style as tests/api/test_isolation.py) -----------

COUNT = {"channel": "email", "purpose": "newsletter"}
SAME_AS_MISSING = [
    ("GET", "/v1/segments/{segment}", None, None),
    ("PATCH", "/v1/segments/{segment}", {"name": "Mallory"}, None),
    ("PATCH", "/v1/segments/{segment}", {"rules": FR_OR_BE}, None),
    ("DELETE", "/v1/segments/{segment}", None, None),
    ("GET", "/v1/segments/{segment}/count", None, COUNT),
    ("GET", "/v1/segments/{segment}/export", None, COUNT),
    ("GET", "/v1/segments/{segment}/export", None, {**COUNT, "format": "hashed_csv"}),
]


@pytest.mark.parametrize(("method", "template", "body", "params"), SAME_AS_MISSING)
async def test_foreign_segments_answer_like_missing_ones(client, method, template, body, params):
    a = await make_world(await make_tenant())
    b = await make_world(await make_tenant())
    a_segment = await _segment(client, a.tenant, {"type": "all", "rules": []})
    kwargs = {"headers": b.tenant.headers, "params": params,
              **({"json": body} if body else {})}
    foreign = await client.request(method, template.format(segment=a_segment["id"]), **kwargs)
    missing = await client.request(method, template.format(segment=uuid.uuid4()), **kwargs)
    assert foreign.status_code == 404, foreign.text
    assert foreign.headers["content-type"] == "application/problem+json"
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())
    still = await client.get(f"/v1/segments/{a_segment['id']}", headers=a.tenant.headers)
    assert still.status_code == 200 and still.json() == a_segment
    assert await _count(client, a.tenant, a_segment["id"]) == 1


async def test_segments_never_reach_into_another_tenant(client):
    a = await make_world(await make_tenant())
    b = await make_world(await make_tenant())
    await make_purpose(a.tenant, key="a-only")
    everyone = {"type": "all", "rules": []}
    a_segment = await _segment(client, a.tenant, everyone)
    b_segment = await _segment(client, b.tenant, everyone)
    listed = (await client.get("/v1/segments", headers=b.tenant.headers)).json()["items"]
    assert [s["id"] for s in listed] == [b_segment["id"]]
    assert await _count(client, b.tenant, b_segment["id"]) == 1
    rows = await _export(client, b.tenant, b_segment["id"], "ndjson")
    assert [r["id"] for r in rows] == [b.contact["id"]]
    # A's purpose key is unknown to B, in rules and in the count's query alike.
    rules = {"type": "consent", "channel": "email", "purpose": "a-only"}
    foreign = await client.post("/v1/segments", json={"name": "x", "rules": rules},
                                headers=b.tenant.headers)
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "purpose"
    answer = await client.get(f"/v1/segments/{b_segment['id']}/count",
                              params={"channel": "email", "purpose": "a-only"},
                              headers=b.tenant.headers)
    assert answer.status_code == 422
    assert await _count(client, a.tenant, a_segment["id"]) == 1
