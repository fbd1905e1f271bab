"""Wraps the admin ASGI app: one transaction per data request, scoped to the staff
user's tenants (wall 3 for the admin).

The session cookie → staff user → memberships gives the allowed tenant ids; the
request then runs inside one transaction that, on PostgreSQL, sets
`app.tenant_ids` (and `app.tenant_id` when there is exactly one) so row-level
security agrees with the CRUD scoping. The answer is buffered: it leaves only
after the commit, an error answer rolls everything back, and a policy violation
surfacing from the database answers 404 — never a 500.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from http.cookies import SimpleCookie
from typing import Any, AsyncIterator

from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteTransaction, TransactionType

from admin.scope import SESSION_COOKIE, current_scope, resolve
from api.transaction import SAFE_METHODS, _Buffered
from optinbase import db

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


@contextlib.asynccontextmanager
async def admin_transaction(tenant_ids: list[uuid.UUID], write: bool) -> AsyncIterator[None]:
    engine = db.get_engine()
    token = db.current_tenant.set(None)
    try:
        if isinstance(engine, PostgresEngine):
            # Bound parameters: set_config takes them (SET LOCAL would not).
            # Not READ ONLY even for GET: the session expiry is refreshed.
            ids = "{" + ",".join(str(t) for t in tenant_ids) + "}" if tenant_ids else ""
            single = str(tenant_ids[0]) if len(tenant_ids) == 1 else ""
            async with PostgresTransaction(engine, allow_nested=False) as tx:
                await tx.connection.execute(
                    "SELECT set_config('app.tenant_ids', $1, true),"
                    " set_config('app.tenant_id', $2, true)", ids, single,
                )
                yield
        else:
            kind = TransactionType.immediate if write else TransactionType.deferred
            async with SQLiteTransaction(engine, transaction_type=kind, allow_nested=False):
                yield
    finally:
        db.current_tenant.reset(token)


def _policy_violation(exc: BaseException) -> bool:
    try:
        from asyncpg.exceptions import InsufficientPrivilegeError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, InsufficientPrivilegeError)


class AdminGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIXES):
            await self.app(scope, receive, send)
            return
        staff = await resolve(_cookie(scope, SESSION_COOKIE))
        scope_token = current_scope.set(staff)
        buffered = _Buffered()
        try:
            async with admin_transaction(staff.tenant_ids, scope["method"] not in SAFE_METHODS):
                await self.app(scope, receive, buffered)
                if buffered.status >= 400:
                    raise _Rollback
        except _Rollback:
            pass
        except Exception as exc:
            if not _policy_violation(exc):
                raise
            logger.warning("admin request refused by row-level security: %s", exc)
            await _answer(send, 404, b"The resource doesn't exist")
            return
        finally:
            current_scope.reset(scope_token)
        await buffered.flush(send)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
