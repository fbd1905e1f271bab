"""Wraps the admin ASGI app: one transaction per data request, scoped to the staff
user's tenants (wall 3 for the admin).

The session cookie → staff user → memberships gives the allowed tenant ids; the
request then runs inside the envelope's staff transaction, which on PostgreSQL
admits exactly those tenants, so row-level security agrees with the CRUD
scoping. The answer is buffered: it leaves only after the commit, an error
answer rolls everything back, and a database refusal (a policy violation, an
unreachable database) answers as the API would — never a 500.

The gate also decides, once per request, the language of the admin's own texts
(the browser's `Accept-Language`, admin.look.say) and, for a form's schema, loads
its pick-lists inside the transaction (admin.choices).
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

from admin import choices, look
from admin.scope import SESSION_COOKIE, current_scope, resolve
from api.envelope import SAFE_METHODS, Buffered
from optinbase import db
from optinbase.i18n import choose
from tenants import envelope

logger = logging.getLogger(__name__)
# Paths that touch tenant data; the SPA's assets and the login page do not.
DATA_PREFIXES = ("/api/", "/dashboard", "/agency", "/contacts")


class _Rollback(Exception):
    pass


def _headers(scope: dict, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def _cookie(scope: dict, name: str) -> str | None:
    for value in _headers(scope, b"cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value)
        except Exception:  # a malformed cookie header is no session
            return None
        if name in jar:
            return jar[name].value
    return None


class AdminGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIXES):
            await self.app(scope, receive, send)
            return
        buffered = Buffered()
        scope_token = picks_token = language_token = None
        try:
            staff = await resolve(_cookie(scope, SESSION_COOKIE))
            scope_token = current_scope.set(staff)
            language_token = look.LANGUAGE.set(choose(accept_language=next(
                iter(_headers(scope, b"accept-language")), None)))
            async with envelope.staff(staff.tenant_ids,
                                      write=scope["method"] not in SAFE_METHODS):
                if staff.user_id is not None and choices.SCHEMA_PATH.match(scope["path"]):
                    picks_token = await choices.load(staff)
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
            if picks_token is not None:
                choices.PICKS.reset(picks_token)
            if language_token is not None:
                look.LANGUAGE.reset(language_token)
        await buffered.flush(send)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
