"""Litestar handlers that mount the admin at /admin/ (built once, here)."""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.response import Redirect
from litestar.types import Receive, Scope, Send

from admin.app import build_admin
from optinbase.settings import Settings


def admin_handlers(settings: Settings, key_authenticator: Any) -> list[Any]:
    gate = build_admin(production=settings.production, key_authenticator=key_authenticator)

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
