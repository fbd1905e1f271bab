"""The API's documentation, readable offline: the OpenAPI document at
`/schema/openapi.json` and Swagger UI at `/schema`, whose scripts, style sheet
and icon are served from this app (the `swagger-ui-py` package ships Swagger
UI 5's release, Apache-2.0, which reads OpenAPI 3.1) — no CDN, no web fonts."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
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
