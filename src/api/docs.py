"""The API's documentation, readable offline: the OpenAPI document at
`/schema/openapi.json` and Swagger UI at `/schema`, whose scripts, style sheet
and icon are served from this app (the `swagger-ui-py` package ships Swagger
UI 5's release, Apache-2.0, which reads OpenAPI 3.1) — no CDN, no web fonts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import msgspec
import swagger_ui
from litestar import Litestar
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (Components, OpenAPIMediaType, OpenAPIType, Operation,
                                   Reference, RequestBody, Schema, SecurityScheme)
from litestar.params import HeaderParameter
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"

DESCRIPTION = """Consents with proof, per channel and purpose, for each tenant.

Authenticate with `Authorization: Bearer obk_<id>_<secret>` (an agency key names its tenant
in `X-Tenant`). Errors are RFC 9457 problem documents (`application/problem+json`); another
tenant's object answers 404 exactly like a missing one. Writes accept `Idempotency-Key`: a
retry with the same key and body answers the first answer again."""


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Optinbase API",
        version="1",
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[SwaggerRenderPlugin(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        )],
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(type="http", scheme="bearer",
                                         description="obk_<id>_<secret>")
            }
        ),
    )


def assets_router():
    return create_static_files_router(path=ASSETS,
                                      directories=[Path(swagger_ui.__file__).parent / "static"],
                                      include_in_schema=False, name="docs-assets")


# --- what every /v1 operation may answer and accept -----------------------------------


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem document (`application/problem+json`), the only form
    of error the API answers (api.problems.to_problem). Some carry more
    members: `existing_id` on a duplicate, `line` and `column` on a malformed
    import file."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEMS = {
    400: "Malformed request: not JSON, not UTF-8, nested too deep, a malformed import file",
    401: "Missing, unknown, expired or revoked API key (`WWW-Authenticate: Bearer`)",
    403: "The key lacks the scope this operation needs",
    404: "No such object for this tenant (another tenant's object answers the same)",
    405: "Method not allowed on this path",
    409: "Conflict: a duplicate identifier, or an Idempotency-Key reused for another request",
    410: "The object or link no longer exists",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input; `errors` names each bad field",
    429: "Too many requests (see `Retry-After`)",
    503: "The database cannot be reached; nothing was done; retry after `Retry-After` seconds",
}
PROBLEM_RESPONSES = {
    status: ResponseSpec(Problem, description=description, media_type=PROBLEM_MEDIA_TYPE,
                         generate_examples=False)
    for status, description in PROBLEMS.items()
}

# Request headers every /v1 operation takes (api.auth, api.envelope), so that
# generated clients and schema-driven tests know them. Declared once on the
# router (Litestar's layered parameters, checked like any parameter).
HEADERS: dict[str, Any] = {
    "x_tenant": HeaderParameter(annotation=str, name="X-Tenant", required=False, max_length=63,
                                description="An agency key acts on the tenant with this slug"),
    "idempotency_key": HeaderParameter(
        annotation=str, name="Idempotency-Key", required=False, min_length=1, max_length=255,
        description="Writes: a retry with the same key and body answers the first answer again"),
}


def document_problems(app: Litestar, prefix: str = "/v1") -> None:
    """Every operation under `prefix` documents the problem answers above
    (before any of its own). Run once on the built app, before the OpenAPI
    document is first generated (Litestar builds it on first request)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(prefix):
            for handler in route.route_handlers:
                handler.responses = {**PROBLEM_RESPONSES, **(handler.responses or {})}


TEXT = Schema(type=OpenAPIType.STRING)  # a file
OBJECT = Schema(type=OpenAPIType.OBJECT)  # a JSON document of another media type


def media_operation(*, takes: Iterable[str] = (), answers: Iterable[str] = (),
                    schema: Schema = TEXT) -> type[Operation]:
    """The `operation_class` of a route whose body or answer is not the one
    JSON type Litestar infers — a file taken as a raw `Request` (the import),
    a `Stream` (an export), a `Response` whose media type depends on the query
    (a receipt in JSON-LD): the document then lists the media types really
    taken and sent, each with `schema` (a string: a file)."""
    takes, answers = tuple(takes), tuple(answers)

    def content(media_types: tuple[str, ...]) -> dict[str, OpenAPIMediaType]:
        return {m: OpenAPIMediaType(schema=schema) for m in media_types}

    @dataclass
    class MediaOperation(Operation):
        def __post_init__(self) -> None:
            if takes:
                self.request_body = RequestBody(content=content(takes), required=True)
            ok = (self.responses or {}).get("200")
            if answers and ok is not None and not isinstance(ok, Reference):
                ok.content = content(answers)

    return MediaOperation
