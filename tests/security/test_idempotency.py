"""Idempotency-Key under concurrency (issue 13 §5): requests racing with one
key end with one execution and replays of its answer — never a 500 — and the
fingerprint includes the query string."""

from __future__ import annotations

import asyncio

from optinbase import db
from tests.factories import make_tenant


async def test_concurrent_requests_with_one_key_execute_once(client):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(*[
        client.post("/v1/contacts", headers=headers, json={"email": "race@example.org"})
        for _ in range(6)])
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    executed = [a for a in answers if a.headers.get("idempotent-replay") != "true"]
    assert len(executed) == 1
    async with db.tenant_transaction(tenant.id, write=False):
        assert await db.fetchval("SELECT count(*) FROM contact WHERE tenant_id = {}",
                                 tenant.id) == 1


async def test_a_failed_first_attempt_leaves_the_key_free(client):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "retry-after-error"}
    bad = await client.post("/v1/contacts", headers=headers, json={"email": "not an address"})
    assert bad.status_code == 422
    good = await client.post("/v1/contacts", headers=headers, json={"email": "ok@example.org"})
    assert good.status_code == 201 and "idempotent-replay" not in good.headers


async def test_fingerprint_includes_the_query_string(client):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "query-1"}
    body = {"email": "query@example.org"}
    first = await client.post("/v1/contacts?source=a", headers=headers, json=body)
    assert first.status_code == 201
    again = await client.post("/v1/contacts?source=a", headers=headers, json=body)
    assert again.status_code == 201 and again.headers["idempotent-replay"] == "true"
    other = await client.post("/v1/contacts?source=b", headers=headers, json=body)
    assert other.status_code == 409 and other.headers["content-type"].startswith(
        "application/problem+json")
