"""The API's documentation, readable offline: the OpenAPI document at
`/schema/openapi.json` and Swagger UI at `/schema`, whose scripts, style sheet
and icon are served from this app (the `swagger-ui-py` package ships Swagger
UI 5's release, Apache-2.0, which reads OpenAPI 3.1) — no CDN, no web fonts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import msgspec
import swagger_ui
from litestar import Litestar
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (Components, Example, OpenAPIHeader, OpenAPIFormat,
                                   OpenAPIMediaType, OpenAPIType, Operation, Parameter, Reference, RequestBody,
                                   Schema, SecurityScheme)
from litestar.params import HeaderParameter
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from api import examples, operation_docs

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


RESPONSE_HEADERS = {
    "X-Request-ID": ("Identifies this request in the server's logs; quote it when asking for "
                     "help (sent on every answer)", r"^[A-Za-z0-9._:-]{1,128}$", True),
}
HEADERS_BY_STATUS = {
    "401": {"WWW-Authenticate": ('`Bearer realm="optinbase"`', None, True)},
    "429": {"Retry-After": ("Seconds to wait before trying again", r"^[0-9]+$", True)},
    "503": {"Retry-After": ("Seconds to wait before trying again", r"^[0-9]+$", True)},
}
# On a write's success: a retry with the same Idempotency-Key got the first answer again.
REPLAY = {"Idempotent-Replay": ("`true` when this answer is the stored answer of an earlier "
                                "request with the same Idempotency-Key", r"^true$", False)}
# On the listings that answer a bare array (api.listing): where the rest is.
LINK = {"Link": ('`<…?cursor=…>; rel="next"` when there are more', None, False)}
LITESTAR_CREATED = "Document created, URL follows"
BARE_LISTS = {"GET /v1/purposes", "GET /v1/notices", "GET /v1/webhooks"}


def _headers(specs: dict[str, tuple[str, str | None, bool]]) -> dict[str, OpenAPIHeader]:
    return {name: OpenAPIHeader(description=text, required=required,
                                schema=Schema(type=OpenAPIType.STRING, pattern=pattern))
            for name, (text, pattern, required) in specs.items()}


def document(app: Litestar, prefixes: tuple[str, ...] = ("/v1", "/inbound")) -> None:
    """Completes every operation of the document (issue 15 §3): the problem
    answers above for the API and the e-mail providers' inbound endpoints,
    each operation's summary and description (api.operation_docs), the
    examples of the main ones (api.examples), and the response headers. Run
    once on the built app, before the document is first generated (Litestar
    builds it on first request, calling each handler's `operation_class`)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = PARAMETER_TYPE.sub("}", route.path)
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            if route.path.startswith(prefixes):
                handler.responses = {**PROBLEM_RESPONSES, **(handler.responses or {})}
            for method in handler.http_methods:
                handler.operation_class = _documented(handler.operation_class, f"{method} {path}")


PARAMETER_TYPE = re.compile(r":[a-z]+\}")


def _documented(base: type[Operation], key: str) -> type[Operation]:
    summary, description = operation_docs.OPERATIONS.get(key, (None, None))
    example = examples.EXAMPLES.get(key)
    method = key.split(" ", 1)[0]

    @dataclass
    class Documented(base):  # type: ignore[valid-type,misc]
        def __post_init__(self) -> None:
            getattr(super(), "__post_init__", lambda: None)()
            self.summary = summary or self.summary
            self.description = description or self.description
            for status, answer in (self.responses or {}).items():
                if isinstance(answer, Reference):
                    continue
                specs = {**RESPONSE_HEADERS, **HEADERS_BY_STATUS.get(status, {})}
                if status.startswith("2") and method in ("POST", "PATCH", "PUT", "DELETE"):
                    specs.update(REPLAY)
                if status.startswith("2") and key in BARE_LISTS:
                    specs.update(LINK)
                answer.headers = {**(answer.headers or {}), **_headers(specs)}
                if answer.description == LITESTAR_CREATED:  # no Location is sent
                    answer.description = "Created"
            if example is not None:
                _apply(self, example)

    return Documented


def _verbatim(value: Any) -> msgspec.Raw:
    """The example as JSON already encoded: Litestar drops every None from the
    document's objects, examples included, and an answer's `"closed_at": null`
    is part of what it shows. `<` is written `\\u003c` (the same JSON string):
    the docs page embeds the document in a `<script>`, which an example's own
    `</script>` (a form's embed snippet) would otherwise end."""
    return msgspec.Raw(msgspec.json.encode(value).replace(b"<", b"\\u003c"))


def _apply(operation: Operation, example: examples.Example) -> None:
    def named(value: Any) -> dict[str, Example | Reference]:
        return {"example": Example(summary=example.summary, value=_verbatim(value))}

    body = operation.request_body
    if example.request is not None and isinstance(body, RequestBody):
        for media_type, media in body.content.items():
            if example.media in (None, media_type):
                media.examples = named(example.request)
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.name in example.params:
            parameter.examples = {"example": Example(value=_verbatim(example.params[parameter.name]))}
    if example.response is not None:
        for status, answer in (operation.responses or {}).items():
            if status.startswith("2") and not isinstance(answer, Reference):
                for media in (answer.content or {}).values():
                    media.examples = named(example.response)


TEXT = Schema(type=OpenAPIType.STRING)  # a file
BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)  # an archive
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
