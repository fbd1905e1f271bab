"""Wraps the admin ASGI app: one transaction per data request, scoped to the staff
user's tenants (wall 3 for the admin).

The session cookie → staff user → memberships gives the allowed tenant ids; the
request then runs inside the envelope's staff transaction, which on PostgreSQL
admits exactly those tenants, so row-level security agrees with the CRUD
scoping. The answer is buffered: it leaves only after the commit, an error
answer rolls everything back, and a database refusal (a policy violation, an
unreachable database) answers as the API would — never a 500.
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

from admin.scope import SESSION_COOKIE, current_scope, resolve
from api import guard
from api.envelope import SAFE_METHODS, Buffered, header, read_body, replay
from optinbase import db
from optinbase.errors import DomainError
from tenants import envelope

logger = logging.getLogger(__name__)
# Paths that touch tenant data; the SPA's assets and the login page do not.
DATA_PREFIXES = ("/api/", "/dashboard")


class _Rollback(Exception):
    pass


def _cookie(scope: dict, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no session
                return None
            if name in jar:
                return jar[name].value
    return None


class AdminGate:
    def __init__(self, app: Any, max_body_bytes: int = 1_048_576) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:  # what no handler should see (api.guard), the login form included
                receive = await self._guarded(scope, receive)
            except DomainError as refusal:
                await _answer(send, refusal.status, refusal.detail.encode())
                return
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIXES):
            await self.app(scope, receive, send)
            return
        buffered = Buffered()
        scope_token = None
        try:
            staff = await resolve(_cookie(scope, SESSION_COOKIE))
            scope_token = current_scope.set(staff)
            async with envelope.staff(staff.tenant_ids,
                                      write=scope["method"] not in SAFE_METHODS):
                await self.app(scope, receive, buffered)
                if buffered.status >= 400:
                    raise _Rollback
        except _Rollback:
            pass
        except Exception as exc:
            refusal = db.domain_error_of(exc)
            if refusal is None:
                raise
            logger.warning("admin request refused by the database: %s", type(exc).__name__)
            status = 404 if refusal.status in (403, 404) else refusal.status
            await _answer(send, status, b"The resource doesn't exist" if status == 404
                          else refusal.detail.encode())
            return
        finally:
            if scope_token is not None:
                current_scope.reset(scope_token)
        await buffered.flush(send)


    async def _guarded(self, scope: dict, receive: Any) -> Any:
        guard.check_target(scope["path"], scope.get("query_string", b""), scope.get("headers", []))
        if scope["method"] in SAFE_METHODS:
            return receive
        body = await read_body(receive, self.max_body_bytes)
        guard.check_body(body, header(scope, b"content-type") or "")
        return replay(body)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
