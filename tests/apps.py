"""The application under test, built once per session, and put back before each
test into the state a fresh `create_app()` would have.

`create_app()` costs ~2 s on this machine (85 % of it building Piccolo Admin);
built for each of ~270 test items it was most of the suite's set-up time. The
app holds no database state (the engine is `db`'s, chosen by the `backend`
fixture), but it holds per-process memory that must not leak from one test to
the next: the verified-key and tenant caches, the admin's login limiter; the
public pages' limiters live in their modules and are cleared here too.
"""

from __future__ import annotations

from typing import Any, Iterator

from litestar import Litestar
from piccolo_api.rate_limiting.middleware import InMemoryLimitProvider, RateLimitingMiddleware

from admin import forms
from admin.gate import AdminGate
from optinbase import limits
from tenants.keys import KeyAuthenticator
from tenants.service import TenantDirectory

def _admin_gates(app: Litestar) -> Iterator[AdminGate]:
    """The admin gate(s) the /admin mount closes over (admin.mount.admin_handlers)."""
    for route in app.routes:
        handler = getattr(route, "route_handler", None)
        cells = getattr(getattr(handler, "fn", None), "__closure__", None) or ()
        for cell in cells:
            if isinstance(cell.cell_contents, AdminGate):
                yield cell.cell_contents


def _limit_providers(asgi: Any) -> Iterator[InMemoryLimitProvider]:
    """Every in-memory rate limiter mounted under a Starlette/FastAPI app (the
    admin's login limiter sits at /public/login)."""
    for route in getattr(asgi, "routes", ()):
        inner = getattr(route, "app", None)
        while isinstance(inner, RateLimitingMiddleware):
            if isinstance(inner.rate_limit, InMemoryLimitProvider):
                yield inner.rate_limit
            inner = inner.app
        if inner is not None and inner is not asgi:
            yield from _limit_providers(inner)


def login_limits(app: Litestar) -> list[InMemoryLimitProvider]:
    limits = [limit for gate in _admin_gates(app) for limit in _limit_providers(gate.app)]
    assert limits, "the admin's login limiter was not found: has admin.mount changed?"
    return limits


def reset(app: Litestar) -> Litestar:
    """What a new `create_app()` would start with, without rebuilding it."""
    settings = app.state.settings
    app.state.key_authenticator = KeyAuthenticator(recheck_seconds=settings.key_cache_seconds)
    app.state.tenant_directory = TenantDirectory(ttl_seconds=settings.key_cache_seconds)
    # The admin's key forms revoke through the app's authenticator (admin.app.build_admin).
    forms.KEY_AUTHENTICATOR = app.state.key_authenticator
    for limit in login_limits(app):
        limit.clear_blocked()
        limit.request_dict.clear()
    limits.forget()  # the shared limiters' counts (database or Redis) start afresh
    return app
