"""The OpenAPI document says what the API really answers (issue 13 §3): every
/v1 operation lists each problem answer as application/problem+json and takes
the X-Tenant and Idempotency-Key headers; files and JSON-LD are documented
with their own media types."""

from __future__ import annotations

from api.docs import PROBLEMS

HEADERS = {"X-Tenant", "Idempotency-Key"}


async def test_every_v1_operation_documents_problems_and_headers(client):
    document = (await client.get("/schema/openapi.json")).json()
    operations = [(path, method, op) for path, item in document["paths"].items()
                  if path.startswith("/v1") for method, op in item.items()]
    assert len(operations) > 40
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    for path, method, op in operations:
        for status in PROBLEMS:
            answer = op["responses"][str(status)]
            assert list(answer["content"]) == ["application/problem+json"], (path, method, status)
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if op.get("security"):  # not the public key, which anyone may fetch
            assert HEADERS <= names, (path, method, names)
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                assert "application/json" not in answer.get("content", {}), (path, method, status)


async def test_files_and_json_ld_are_documented_as_sent(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    imports = paths["/v1/imports"]["post"]["requestBody"]["content"]
    assert set(imports) == {"text/csv", "application/x-ndjson"}
    export = paths["/v1/segments/{segment_id}/export"]["get"]["responses"]["200"]["content"]
    assert {m.split(";")[0] for m in export} == {"text/csv", "application/x-ndjson"}
    receipt = paths["/v1/consent-events/{event_id}/receipt"]["get"]["responses"]["200"]["content"]
    assert set(receipt) == {"application/json", "application/ld+json"}


async def test_a_method_a_path_does_not_take_is_405_with_allow(client):
    answer = await client.request("TRACE", "/v1/contacts")
    assert answer.status_code == 405
    assert "GET" in answer.headers["allow"] and "POST" in answer.headers["allow"]
    assert answer.headers["content-type"] == "application/problem+json"
