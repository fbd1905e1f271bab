"""CORS, decided explicitly: off unless `CORS_ORIGINS` names origins.

Off, a browser preflight (`OPTIONS` with `Origin`) reaches Litestar's own
OPTIONS answer (204, `Allow`) with no `Access-Control-Allow-Origin`: no
site's script can read an answer of the API. On, the allowlisted origins may
call `/v1` with a bearer key — never with cookies (`allow_credentials` off:
the API takes no cookie) — and the preflight is answered before the envelope,
which would otherwise ask it for a key it never carries.

Only the integrator API (`/v1`) is concerned: the public pages and the admin
are same-origin HTML forms."""

from __future__ import annotations

from typing import Sequence

from litestar.config.cors import CORSConfig
# Litestar 2's own middleware, the one its app-wide `cors_config` uses.
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.middleware.base import DefineMiddleware

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Tenant", "X-Request-ID"]
EXPOSED_HEADERS = ["Retry-After", "Idempotent-Replay", "X-Request-ID", "Location"]


def middleware(origins: Sequence[str]) -> list[DefineMiddleware]:
    """The router middleware of `/v1` for these origins (none: no CORS)."""
    if not origins:
        return []
    config = CORSConfig(
        allow_origins=list(origins), allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=ALLOWED_HEADERS, expose_headers=EXPOSED_HEADERS,
        allow_credentials=False, max_age=600,
    )
    return [DefineMiddleware(CORSMiddleware, config=config)]
