"""The OpenAPI document tells an integrator everything (issue 15 §3): each
operation has a summary and a description, a success answer, its problem
answers as application/problem+json with their headers (`X-Request-ID` on
every answer, `Retry-After` on 429 and 503); the main operations carry
examples, and every example is valid — against its schema in the document
(JSON Schema, as schemathesis reads it) and, for request bodies, through the
handler's own msgspec decoder, since schemathesis sends them."""

from __future__ import annotations

import json
from typing import Any, Iterator

import jsonschema_rs
import msgspec
import pytest
from litestar.routes import HTTPRoute

from api.docs import PARAMETER_TYPE, PROBLEM_MEDIA_TYPE
from api.examples import EXAMPLES
from api.operation_docs import OPERATIONS
from tests.factories import make_purpose, make_tenant

MAIN = ["POST /v1/contacts", "POST /v1/contacts/{contact_id}/consents", "GET /v1/consent-check",
        "POST /v1/consent-check", "POST /v1/imports", "POST /v1/segments", "POST /v1/requests",
        "POST /v1/suppressions", "DELETE /v1/suppressions", "GET /v1/changes",
        "POST /v1/inbound-endpoints", "POST /v1/forms", "POST /v1/webhooks"]


@pytest.fixture
async def document(client) -> dict[str, Any]:
    """As served (the examples are encoded JSON until then: api.docs._verbatim)."""
    return (await client.get("/schema/openapi.json")).json()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]},
                                              validate_formats=True)


async def test_every_operation_is_described_and_documents_its_answers(document):
    operations = dict(_operations(document))
    assert len(operations) > 60
    assert set(operations) == set(OPERATIONS), "api/operation_docs.py: one entry per operation"
    for key, op in operations.items():
        assert op.get("summary") and len(op.get("description") or "") > 10, key
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), key
        for status, answer in op["responses"].items():
            assert "X-Request-ID" in answer.get("headers", {}), (key, status)
            if status.startswith("4") or status.startswith("5"):
                assert list(answer.get("content", {})) == [PROBLEM_MEDIA_TYPE], (key, status)
            if status in ("429", "503"):
                assert answer["headers"]["Retry-After"]["required"], (key, status)
        if key.startswith(("GET /v1", "POST /v1", "PATCH /v1", "DELETE /v1")) and op.get("security"):
            assert {"400", "401", "403", "404", "422", "429", "503"} <= statuses, key
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            assert {"X-Tenant", "Idempotency-Key"} <= names, key
    assert "503" in operations["GET /ready"]["responses"]


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    """(operation, where, example value, schema) for every example in the document."""
    for key, op in _operations(document):
        for media, content in (op.get("requestBody") or {}).get("content", {}).items():
            for example in (content.get("examples") or {}).values():
                yield key, f"request {media}", example["value"], content["schema"]
        for parameter in op.get("parameters", []):
            for example in (parameter.get("examples") or {}).values():
                yield key, f"parameter {parameter['name']}", example["value"], parameter["schema"]
        for status, answer in op["responses"].items():
            for media, content in (answer.get("content") or {}).items():
                for example in (content.get("examples") or {}).values():
                    yield key, f"{status} {media}", example["value"], content["schema"]


async def test_every_example_is_valid_against_its_schema(document):
    seen = set()
    for key, where, value, schema in _examples(document):
        errors = [str(e) for e in _validator(document, schema).iter_errors(value)]
        assert not errors, (key, where, errors)
        seen.add(key)
    assert set(MAIN) <= seen, set(MAIN) - seen
    suppression = document["components"]["schemas"]["SuppressionIn"]
    assert not _validator(document, suppression).is_valid({"reason": "because"})  # it does check
    assert set(EXAMPLES) <= seen, "an example names an operation the document lacks"


def test_request_examples_pass_the_handlers_own_decoders(app):
    """What schemathesis sends first is what the handler really accepts."""
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            for method in handler.http_methods:
                key = f"{method} {PARAMETER_TYPE.sub('}', route.path)}"
                example = EXAMPLES.get(key)
                if data is None or example is None or example.request is None:
                    continue
                msgspec.json.decode(json.dumps(example.request), type=data.annotation)
                checked += 1
    assert checked >= 12, checked


async def test_the_docs_page_embeds_the_document_whole(client):
    """Swagger UI's page carries the document inside a <script>: no example may end it."""
    page = (await client.get("/schema")).text
    assert page.count("</script>") == page.count("<script"), "an example ends the page's script"
    assert "optin.example.com/p/acme/forms" in page


async def test_a_documented_example_gets_its_documented_answer(client):
    """The single consent check's example, sent as is with a real key: 200, and
    the answer matches the document's schema (an unknown person is "none")."""
    tenant = await make_tenant()
    await make_purpose(tenant, "newsletter")
    document = (await client.get("/schema/openapi.json")).json()
    op = document["paths"]["/v1/consent-check"]["get"]
    query = {p["name"]: p["examples"]["example"]["value"] for p in op["parameters"]
             if p.get("examples")}
    answer = await client.get("/v1/consent-check", params=query, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert _validator(document, schema).is_valid(answer.json())
    assert answer.json()["status"] == "none"
