"""Litestar handlers that mount the admin at /admin/.

Piccolo Admin is built once per process (never per request: that costs ~90 ms
and resets the login limiter), but only when first asked for, outside
production: building it is ~0.8 s of CPU, a third of a server's start, and a
process that serves only the API, a development server or a test's server
never needs it. In production it is built at start, so that no staff member
waits for it."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from litestar import asgi
from litestar.response import Redirect
from litestar.types import ASGIApp, Receive, Scope, Send

from admin import forms
from admin.app import build_admin
from optinbase.settings import Settings


class OnFirstUse:
    """The admin application, built by the first request that needs it."""

    def __init__(self, production: bool) -> None:
        self._production = production
        self._gate: Optional[ASGIApp] = None
        self._lock = asyncio.Lock()

    def build(self) -> ASGIApp:
        if self._gate is None:
            self._gate = build_admin(production=self._production)
        return self._gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._gate is None:
            async with self._lock:  # concurrent first requests build it once
                self.build()
        await self._gate(scope, receive, send)


def admin_handlers(settings: Settings, key_authenticator: Any) -> list[Any]:
    # The admin's key forms revoke through the API's key cache (a revoked key
    # stops at once in this process), whenever the admin itself is built.
    forms.KEY_AUTHENTICATOR = key_authenticator
    gate = OnFirstUse(settings.production)
    if settings.production:
        gate.build()

    @asgi("/admin", is_mount=True, copy_scope=True)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("", "/") and not scope.get(
            "raw_path", b"/admin/"
        ).endswith(b"/"):
            # /admin without the slash breaks the SPA's relative asset links.
            await Redirect("/admin/", status_code=308).to_asgi_response(None, None)(
                scope, receive, send
            )
            return
        await gate(scope, receive, send)

    return [admin]
