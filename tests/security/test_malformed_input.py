"""Malformed input is a 4xx, always (issue 13 §3): NUL characters on every
route taking text, invalid UTF-8, JSON nested a thousand levels, dates whose UTC
conversion leaves the calendar, CORS preflights. Each case is the hostile input
itself, sent through the app on both engines; none may answer 500, and the
tenant's data must stay as it was (or, for an import, only the poison row is
rejected)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_tenant, make_world

NUL = "a\u0000b"
FAR_FUTURE = "9999-12-31T23:59:59-23:59"  # UTC: year 10000
FAR_PAST = "0001-01-01T00:00:00+23:59"  # UTC: year 0
CONSENT = {"channel": "email", "purpose": "newsletter", "action": "grant", "method": "api"}


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def _deep_text(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def _deep_rule(levels: int) -> str:
    inner = '{"type": "field", "field": "country", "op": "eq", "value": "FR"}'
    return '{"type": "not", "rule": ' * levels + inner + "}" * levels


async def _state(client, world) -> tuple:
    h = world.tenant.headers
    contacts = (await client.get("/v1/contacts", params={"limit": 500}, headers=h)).json()
    ledger = (await client.get("/v1/ledger/verify", headers=h)).json()
    segments = (await client.get("/v1/segments", headers=h)).json()
    return (sorted((c["id"], c["updated_at"]) for c in contacts["items"]), ledger["events"],
            len((await client.get("/v1/purposes", headers=h)).json()),
            len((await client.get("/v1/notices", headers=h)).json()),
            len(segments["items"]),
            len((await client.get("/v1/webhooks", headers=h)).json()))


def _refused(response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (400, 422)), (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == response.status_code and body["detail"]
    return body


# (name, method, path, JSON body) — every JSON route that takes text, with a NUL in it.
JSON_NUL = [
    ("contact email", "POST", "/v1/contacts", {"email": f"{NUL}@example.com"}),
    ("contact name", "POST", "/v1/contacts", {"email": "n1@example.com", "first_name": NUL}),
    ("contact attribute", "POST", "/v1/contacts", {"email": "n2@example.com", "attributes": {"k": NUL}}),
    ("contact attribute key", "POST", "/v1/contacts", {"email": "n3@example.com", "attributes": {NUL: 1}}),
    ("contact external id", "POST", "/v1/contacts", {"external_id": NUL}),
    ("contact patch", "PATCH", "/v1/contacts/{contact}", {"last_name": NUL}),
    ("consent source", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{notice}", "source": NUL}),
    ("consent user agent", "POST", "/v1/contacts/{contact}/consents",
     {**CONSENT, "notice_id": "{notice}", "user_agent": NUL}),
    ("purpose name", "POST", "/v1/purposes", {"key": "nulpurpose", "name": NUL}),
    ("purpose description", "POST", "/v1/purposes", {"key": "nulp2", "name": "n", "description": NUL}),
    ("notice text", "POST", "/v1/notices",
     {"purpose": "newsletter", "channels": ["email"], "language": "en", "text": NUL}),
    ("notice partner", "POST", "/v1/notices",
     {"purpose": "newsletter", "channels": ["email"], "language": "en", "text": "t", "partners": [NUL]}),
    ("webhook url", "POST", "/v1/webhooks", {"url": f"https://example.com/{NUL}", "events": ["consent.changed"]}),
    ("consent-check batch", "POST", "/v1/consent-check",
     {"items": [{"email": f"{NUL}@example.com", "channel": "email", "purpose": "newsletter"}]}),
    ("segment name", "POST", "/v1/segments", {"name": NUL, "rules": {"type": "all", "rules": []}}),
    ("segment rule value", "POST", "/v1/segments",
     {"name": "s", "rules": {"type": "field", "field": "attributes.k", "op": "eq", "value": NUL}}),
    ("suppression", "POST", "/v1/suppressions", {"email": f"{NUL}@example.com", "reason": "manual"}),
    ("request note", "POST", "/v1/requests", {"kind": "access", "email": "r@example.com", "note": NUL}),
    ("tenant name", "PATCH", "/v1/tenant", {"name": NUL}),
]

# Query strings with a NUL (percent-encoded, as a client sends it).
QUERY_NUL = [
    ("consent-check email", "/v1/consent-check?email=a%00b@example.com&channel=email&purpose=newsletter"),
    ("consent-check purpose", "/v1/consent-check?email=a@example.com&channel=email&purpose=news%00letter"),
    ("contacts by email", "/v1/contacts?email=a%00b@example.com"),
    ("contacts by external id", "/v1/contacts?external_id=%00"),
    ("contacts cursor", "/v1/contacts?cursor=%00"),
    ("segment count", "/v1/segments/{segment}/count?channel=email&purpose=news%00letter"),
    ("segment export", "/v1/segments/{segment}/export?channel=email&purpose=news%00letter"),
    ("suppression check", "/v1/suppressions/check?email=a%00b@example.com"),
    ("purpose by key", "/v1/purposes/news%00letter"),
    ("notices by purpose", "/v1/notices?purpose=news%00letter"),
]


async def _world_with_segment(client):
    world = await make_world(await make_tenant())
    made = await client.post("/v1/segments", headers=world.tenant.headers,
                             json={"name": "all", "rules": {"type": "all", "rules": []}})
    assert made.status_code == 201, made.text
    return world, made.json()["id"]


def _fill(value: Any, world, segment: str = "") -> Any:
    if isinstance(value, dict):
        return {_fill(k, world, segment): _fill(v, world, segment) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world, segment) for v in value]
    if isinstance(value, str) and "{" in value:
        return value.format(contact=world.contact["id"], notice=world.notice["id"], segment=segment)
    return value


@pytest.mark.parametrize(("name", "method", "path", "body"), JSON_NUL, ids=[c[0] for c in JSON_NUL])
async def test_a_nul_in_a_json_body_is_refused(client, name, method, path, body):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    response = await client.request(method, _fill(path, world), json=_fill(body, world),
                                    headers=world.tenant.headers)
    problem = _refused(response)
    assert "nul" in str(problem).lower() or "\\u0000" in str(problem), problem
    assert await _state(client, world) == before


async def test_the_nul_refusal_names_the_field(client):
    world = await make_world(await make_tenant())
    for body, field in (({"email": "f@example.com", "first_name": NUL}, "first_name"),
                        ({"email": "g@example.com", "attributes": {"k": [1, NUL]}}, "attributes.k[1]"),
                        ({"email": "h@example.com", "attributes": {NUL: 1}}, "attributes.a\\u0000b")):
        problem = _refused(await client.post("/v1/contacts", json=body, headers=world.tenant.headers), 422)
        assert problem["errors"] == [{"field": field, "message": "must not contain NUL characters (\\u0000)"}]


@pytest.mark.parametrize(("name", "path"), QUERY_NUL, ids=[c[0] for c in QUERY_NUL])
async def test_a_nul_in_the_query_or_path_is_refused(client, name, path):
    world, segment = await _world_with_segment(client)
    response = await client.get(_fill(path, world, segment), headers=world.tenant.headers)
    _refused(response, 400, 404, 422)


async def test_a_raw_nul_byte_or_invalid_utf8_in_json_is_400(client):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    headers = {**world.tenant.headers, "Content-Type": "application/json"}
    for raw in (b'{"email": "a\x00b@example.com"}', b'{"email": "\xff\xfe@example.com"}',
                b'{"email": "ok@example.com", "first_name": "\xc3"}', b"\xef\xbb\xbf" + b"\x00" * 10):
        _refused(await client.post("/v1/contacts", content=raw, headers=headers), 400)
    assert await _state(client, world) == before


@pytest.mark.parametrize("levels", [200, 1000, 100_000])
async def test_deeply_nested_json_is_refused(client, levels):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    h = {**world.tenant.headers, "Content-Type": "application/json"}
    bodies = [
        ("POST", "/v1/segments", '{"name": "deep", "rules": ' + _deep_rule(levels) + "}"),
        ("POST", "/v1/contacts", '{"email": "deep@example.com", "attributes": {"a": '
         + _deep_text(levels) + "}}"),
        ("PATCH", f"/v1/contacts/{world.contact['id']}", '{"attributes": {"a": ' + _deep_text(levels) + "}}"),
        ("POST", "/v1/consent-check", '{"items": ' + _deep_text(levels) + "}"),
    ]
    for method, path, text in bodies:
        problem = _refused(await client.request(method, path, content=text.encode(), headers=h),
                           400, 413, 422)
        assert "deep" in problem["detail"] or "nest" in problem["detail"] or problem["status"] == 413
    assert await _state(client, world) == before


async def test_a_reasonably_nested_segment_still_works(client):
    """The depth limit leaves room for real rule trees."""
    world = await make_world(await make_tenant())
    made = await client.post("/v1/segments", headers=world.tenant.headers,
                             json={"name": "nested", "rules": _nested_rules(11)})
    assert made.status_code == 201, made.text
    count = await client.get(f"/v1/segments/{made.json()['id']}/count", headers=world.tenant.headers,
                             params={"channel": "email", "purpose": "newsletter"})
    assert count.status_code == 200, count.text


def _nested_rules(levels: int) -> dict:
    rule: dict = {"type": "field", "field": "country", "op": "eq", "value": "FR"}
    for level in range(levels):
        rule = {"type": "not", "rule": rule} if level % 2 else {"type": "any", "rules": [rule]}
    return rule


@pytest.mark.parametrize("when", [FAR_FUTURE, FAR_PAST, "10000-01-01T00:00:00Z"])
async def test_out_of_range_dates_are_refused_in_segments(client, when):
    world = await make_world(await make_tenant())
    h = world.tenant.headers
    for field, op, value in (("created_at", "gt", when), ("last_activity_at", "between", [when, when])):
        rules = {"type": "field", "field": field, "op": op, "value": value}
        problem = _refused(await client.post("/v1/segments", json={"name": "d", "rules": rules},
                                             headers=h), 422)
        assert problem["errors"][0]["field"].startswith("value"), problem
    # and a valid extreme still counts
    rules = {"type": "field", "field": "created_at", "op": "lt", "value": "9999-12-31T00:00:00Z"}
    made = await client.post("/v1/segments", json={"name": "d", "rules": rules}, headers=h)
    assert made.status_code == 201, made.text
    count = await client.get(f"/v1/segments/{made.json()['id']}/count", headers=h,
                             params={"channel": "email", "purpose": "newsletter"})
    assert count.status_code == 200 and count.json()["count"] == 1, count.text


@pytest.mark.parametrize("when", [FAR_FUTURE, FAR_PAST])
async def test_out_of_range_collected_at_is_refused(client, when):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    problem = _refused(await client.post(
        f"/v1/contacts/{world.contact['id']}/consents", headers=world.tenant.headers,
        json={**CONSENT, "notice_id": world.notice["id"], "collected_at": when}), 422)
    assert "collected_at" in str(problem)
    assert await _state(client, world) == before


async def _import(client, world, body: bytes, content_type: str) -> dict:
    response = await client.post("/v1/imports", content=body, headers={
        **world.tenant.headers, "Content-Type": content_type})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "done", job
    return job


async def test_poison_csv_rows_are_rejected_one_by_one(client):
    world = await make_world(await make_tenant())
    notice = world.notice["id"]
    header = "email,first_name,attributes.tier,consent_channel,consent_purpose,notice_id,collected_at\n"
    rows = [
        f"good1@example.com,Ann,gold,email,newsletter,{notice},2026-01-15T10:00:00Z",
        f"nul@example.com,A\x00nn,,,,,",
        f"nulattr@example.com,Ann,g\x00ld,,,,",
        f"past@example.com,,,email,newsletter,{notice},{FAR_PAST}",
        f"future@example.com,,,email,newsletter,{notice},{FAR_FUTURE}",
        f"good2@example.com,Bob,,,,,",
    ]
    job = await _import(client, world, (header + "\n".join(rows) + "\n").encode(), "text/csv")
    assert (job["total"], job["created"], job["rejected"]) == (6, 2, 4), job
    assert sorted(e["line"] for e in job["errors"]) == [3, 4, 5, 6], job["errors"]


async def test_poison_ndjson_lines_are_rejected_one_by_one(client):
    world = await make_world(await make_tenant())
    notice = world.notice["id"]
    good = '{"contact": {"email": "g%d@example.com"}}'
    consent = '{"contact": {"email": "c%d@example.com"}, "consents": [{"channel": "email",' \
              ' "purpose": "newsletter", "notice_id": "' + notice + '", "collected_at": "%s"}]}'
    lines = [
        good % 1,
        '{"contact": {"email": "nul@example.com", "first_name": "A\\u0000nn"}}',
        '{"contact": {"email": "nul2@example.com", "attributes": {"k": "\\u0000"}}}',
        '{"contact": {"email": "deep@example.com", "attributes": {"a": ' + _deep_text(5000) + "}}}",
        consent % (1, FAR_PAST),
        consent % (2, FAR_FUTURE),
        good % 2,
    ]
    job = await _import(client, world, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
    assert (job["total"], job["created"], job["rejected"]) == (7, 2, 5), job
    assert sorted(e["line"] for e in job["errors"]) == [2, 3, 4, 5, 6], job["errors"]


async def test_public_pages_refuse_nul_without_a_500(client):
    world = await make_world(await make_tenant())
    slug = world.tenant.slug
    form = {"email": NUL + "@example.com", "consent": f"newsletter:email",
            f"notice.newsletter": world.notice["id"]}
    for path in (f"/p/{slug}/subscribe", f"/p/{slug}/requests"):
        page = await client.post(path, data=form)
        assert 400 <= page.status_code < 500, (path, page.status_code, page.text[:300])
        as_json = await client.post(path, json={"email": NUL + "@example.com", "kind": "access",
                                                 "consents": []},
                                    headers={"Accept": "application/json"})
        _refused(as_json, 400, 422)
    for path in ("/p/unsubscribe/a%00b", "/p/preferences/%00", "/p/confirm/x%00y",
                 f"/p/{slug}%00/subscribe", "/p/requests/status/%00"):
        answer = await client.get(path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)


JSON = {"content-type": "application/json"}
ODD = [
    # (what, method, path, raw body, extra headers) — each answered 4xx, never 500
    ("invalid UTF-8 in the query", "GET", "/v1/contacts?email=%ff%fe", None, {}),
    ("invalid UTF-8 in the path", "GET", "/v1/purposes/%ff%fe", None, {}),
    ("a 500-digit integer", "POST", "/v1/contacts",
     b'{"email": "a@example.com", "birth_year": 1' + b"0" * 500 + b"}", JSON),
    ("a float beyond double", "POST", "/v1/contacts",
     b'{"email": "a@example.com", "attributes": {"x": 1e999999}}', JSON),
    ("a 5000-digit attribute", "POST", "/v1/contacts",
     b'{"email": "a@example.com", "attributes": {"x": 1' + b"0" * 5000 + b"}}", JSON),
    ("a lone surrogate", "POST", "/v1/contacts", b'{"email": "a@example.com", "first_name": "\\ud800"}',
     JSON),
    ("null body", "POST", "/v1/contacts", b"null", JSON),
    ("a huge limit", "GET", "/v1/contacts?limit=99999999999999999999999", None, {}),
    ("a 5000-character id", "GET", "/v1/contacts/" + "1" * 5000, None, {}),
    ("a NUL-free but huge form", "POST", "/p/{slug}/requests",
     b"email=a%40example.com&kind=" + b"x" * 3_000_000, {"content-type": "application/x-www-form-urlencoded"}),
    ("invalid UTF-8 in a form", "POST", "/p/{slug}/subscribe", b"email=\xff\xfe",
     {"content-type": "application/x-www-form-urlencoded"}),
]


@pytest.mark.parametrize(("what", "method", "path", "body", "headers"), ODD, ids=[c[0] for c in ODD])
async def test_odd_input_is_a_4xx(client, what, method, path, body, headers):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    answer = await client.request(method, path.format(slug=world.tenant.slug), content=body,
                                  headers={**world.tenant.headers, **headers})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert await _state(client, world) == before


async def test_a_nul_in_a_header_or_a_multipart_form_is_refused(client):
    world = await make_world(await make_tenant())
    before = await _state(client, world)
    for name in ("Idempotency-Key", "X-Tenant", "User-Agent"):
        answer = await client.post("/v1/contacts", json={"email": "hdr@example.com"},
                                   headers={**world.tenant.headers, name: "a\x00b"})
        problem = _refused(answer, 422)
        assert problem["errors"][0]["field"] == name.lower()
    page = await client.post(f"/p/{world.tenant.slug}/subscribe",
                             files={"email": (None, "a\x00b@example.com")})
    assert page.status_code == 422 and "<html" in page.text
    assert await _state(client, world) == before
