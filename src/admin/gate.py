"""Wraps the admin ASGI app: one transaction per data request, scoped to the staff
user's tenants (wall 3 for the admin).

The session cookie → staff user → memberships gives the allowed tenant ids; the
request then runs inside the envelope's staff transaction, which on PostgreSQL
admits exactly those tenants, so row-level security agrees with the CRUD
scoping. The answer is buffered: it leaves only after the commit, an error
answer rolls everything back, and a database refusal (a policy violation, an
unreachable database) answers as the API would — never a 500.

The gate also decides, once per request, the language of the admin's own texts
(the one Piccolo Admin shows: admin.look.staff_language) and, for a form's schema, loads
its pick-lists inside the transaction (admin.choices).
"""

from __future__ import annotations

import json
import logging
import os
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from admin import choices, look
from admin.scope import SESSION_COOKIE, current_scope, resolve
from api import guard
from api.envelope import SAFE_METHODS, Buffered, PayloadTooLarge, header, read_body, replay
from optinbase import db, limits
from optinbase.errors import DomainError
from tenants import envelope

logger = logging.getLogger(__name__)
# Paths that touch tenant data; the SPA's assets and the login page do not.
DATA_PREFIXES = ("/api/", "/dashboard", "/agency", "/contacts", "/form-builder/")
LOGIN_PATH = "/public/login/"
# Where Piccolo Admin's JSON API and login take input to the database: api.guard
# refuses NUL, bad UTF-8 and deep JSON there. The admin's own pages (/contacts
# search...) answer hostile input themselves, as pages; the form builder takes
# JSON drafts, checked here like the SPA's.
GUARDED_PREFIXES = ("/api/", "/public/", "/form-builder/")


def login_limits() -> tuple[limits.Limit, limits.Limit]:
    """Failed logins: 20 in five minutes from one address, or for one
    account, lock it for ADMIN_LOGIN_LOCK_SECONDS (default 900)."""
    seconds = int(os.environ.get("ADMIN_LOGIN_LOCK_SECONDS") or 900)
    return (limits.Limit("login.address", 20, 300, lock=seconds),
            limits.Limit("login.account", 20, 300, lock=seconds))


def _username(body: bytes, content_type: str) -> str:
    """The account a login names (JSON from the SPA, a form from the page)."""
    try:
        if content_type.startswith("application/json"):
            value = json.loads(body).get("username")
        else:
            value = (parse_qs(body.decode("utf-8", "replace")).get("username") or [""])[0]
    except (ValueError, AttributeError):
        return ""
    return value.strip().lower() if isinstance(value, str) else ""


def _logged_in(answer: Buffered) -> bool:
    """A login succeeded when its answer sets the session cookie."""
    for message in answer.messages:
        if message["type"] == "http.response.start":
            return any(key.lower() == b"set-cookie" and value.startswith(SESSION_COOKIE.encode()
                                                                         + b"=")
                       for key, value in message.get("headers", []))
    return False


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
    def __init__(self, app: Any, max_body_bytes: int = 1_048_576) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(GUARDED_PREFIXES):
            try:  # what no handler should see (api.guard), the login form included
                receive = await self._guarded(scope, receive)
            except DomainError as refusal:
                await _answer(send, refusal.status, refusal.detail.encode())
                return
        if scope["type"] == "http" and scope["path"] == LOGIN_PATH and scope["method"] == "POST":
            await self.login(scope, receive, send)
            return
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIXES):
            await self.app(scope, receive, send)
            return
        buffered = Buffered()
        scope_token = picks_token = language_token = None
        try:
            staff = await resolve(_cookie(scope, SESSION_COOKIE))
            scope_token = current_scope.set(staff)
            language_token = look.LANGUAGE.set(look.staff_language(
                _cookie(scope, look.LANGUAGE_COOKIE),
                next(iter(_headers(scope, b"accept-language")), None)))
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


    async def _guarded(self, scope: dict, receive: Any) -> Any:
        guard.check_target(scope["path"], scope.get("query_string", b""), scope.get("headers", []))
        if scope["method"] in SAFE_METHODS:
            return receive
        body = await read_body(receive, self.max_body_bytes)
        guard.check_body(body, header(scope, b"content-type") or "")
        return replay(body)


    async def login(self, scope: dict, receive: Any, send: Any) -> None:
        """Guessing passwords: once an address or an account has failed too
        often, every login from it or for it is refused — the right password
        too — until its lock ends, in every process (optinbase.limits).
        Failures are counted after the answer, so a lock needs real failures."""
        by_address, by_account = login_limits()
        try:
            body = await read_body(receive, 65_536)
        except PayloadTooLarge:
            await _answer(send, 413, b"Request body too large")
            return
        address = scope["client"][0] if scope.get("client") else None
        account = _username(body, header(scope, b"content-type") or "")
        if await limits.spent(by_address, address) or (
                account and await limits.spent(by_account, account)):
            await _answer(send, 429, b"Too many failed logins; try again later.",
                          retry_after=by_address.retry_after())
            return
        answer = Buffered()
        await self.app(scope, replay(body), answer)
        if not _logged_in(answer):
            await limits.spend(by_address, address)
            if account:
                await limits.spend(by_account, account)
        await answer.flush(send)


async def _answer(send: Any, status: int, body: bytes, retry_after: int | None = None) -> None:
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after else []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
