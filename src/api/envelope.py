"""The HTTP side of the envelope (`tenants.envelope` is the other): every
request to the API (`/v1`) and to the public pages (`/p`) passes through
`Envelope`, the admin's through `admin.gate`.

1. Who: the router's resolver turns the request into a `TenantContext` and the
   tenant's record — from the bearer key (API), from the tenant a signed
   link or a form's slug names (pages) — never from the body or query.
2. The tenant transaction: opened by `tenants.envelope.tenant`; GETs READ
   ONLY and streamed (an export may be large), everything else buffered: the
   answer is sent only after the commit succeeded (a commit failing after the
   response started would be invisible to the client), and an error answer
   rolls everything back (nothing half-written). A write sent with
   `Idempotency-Key` stores its first answer in the same transaction, so a
   retry replays it.
   Before any of it, `api.guard` refuses what no handler should see (NUL
   characters, JSON that is not UTF-8 or nests too deep).
3. Failures: a `DomainError` (or a database refusal, `db.domain_error_of`)
   leaves the transaction rolled back and reaches the app's one exception
   handler, `api.problems.to_problem`, which answers problem JSON — or the one
   error page when a person's browser asked for a page.

Handlers read the resolved caller through the `ctx` and `tenant`
dependencies (`api.params.Ctx`, `Tenant`).

`api.quickcheck` answers the steady state of `GET /v1/consent-check` in
front of this, through the same parts: a wall added here for `/v1` must be
added there too (tests/api/test_quick_check.py fails on a new one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any, Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.utils.scope.state import ScopeState
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api import guard
from messaging.inbound.endpoints import PROVIDERS, parse_public_id
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Conflict, DomainError, Invalid, NotFound
from optinbase.i18n import N_
from tenants import envelope
from tenants.repository import TenantRecord

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SCOPE_KEY = "optinbase"  # scope[SCOPE_KEY] = (TenantContext, TenantRecord)

Resolver = Callable[[Scope], Awaitable[tuple[TenantContext, TenantRecord]]]


class PayloadTooLarge(DomainError):
    status = 413
    title = "Request body too large"
    slug = "payload-too-large"


class _Rollback(Exception):
    pass


class Buffered:
    """A `send` that keeps the answer until the transaction has committed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        self.messages.append(message)

    def header(self, name: bytes) -> str:
        for message in self.messages:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", []):
                    if key.lower() == name:
                        return value.decode()
        return ""

    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )

    async def flush(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class Envelope:
    """ASGI middleware of a router: resolve the caller, run the handler in
    that tenant's transaction, answer only after the commit."""

    def __init__(self, app: ASGIApp, resolve: Resolver, max_body_bytes: int = 1_048_576,
                 idempotent: bool = False) -> None:
        self.app, self.resolve = app, resolve
        self.max_body_bytes, self.idempotent = max_body_bytes, idempotent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] == "OPTIONS"
                                       and not scope["route_handler"].opt.get("preflight")):
            # OPTIONS is Litestar's own answer (204, `Allow`): it reads no tenant's
            # data, and a browser's preflight never carries the key (api.cors).
            # A handler of its own marked `preflight` (an embedded form's CORS
            # answer, which reads the form's origins) is resolved like a GET.
            await self.app(scope, receive, send)
            return
        guard.check_target(scope["path"], scope.get("query_string", b""), scope.get("headers", []))
        ctx, record = await self.resolve(scope)
        scope[SCOPE_KEY] = (ctx, record)  # type: ignore[literal-required]
        opt = scope["route_handler"].opt
        write = opt.get("write", scope["method"] not in SAFE_METHODS)
        if not write and opt.get("own_transaction"):
            # The service orders its own reads and opens its transaction through
            # the envelope itself (the ledger's verify reads the checkpoint log
            # before it takes its snapshot).
            await self.app(scope, receive, send)
            return
        if not write:
            async with envelope.tenant(ctx, write=False):
                await self.app(scope, receive, send)
            return
        body = await read_body(receive, opt.get("max_body_bytes", self.max_body_bytes))
        guard.check_body(body, header(scope, b"content-type") or "", raw=opt.get("raw_body", False))
        key = header(scope, b"idempotency-key") if self.idempotent else None
        if key is not None and not (1 <= len(key) <= 255):
            raise Invalid("Idempotency-Key must be 1 to 255 characters",
                          errors=[{"field": "Idempotency-Key", "message": "1 to 255 characters"}])
        buffered = Buffered()
        try:
            async with envelope.tenant(ctx, write=True):
                if key is not None and await _replayed(scope, ctx, key, body, send):
                    return  # the first answer, sent again (this transaction wrote nothing)
                await self.app(scope, replay(body), buffered)
                if buffered.status >= 400:
                    raise _Rollback
                if key is not None:
                    await _remember(ctx, key, buffered)
        except _Rollback:
            pass
        except Exception:
            # The commit failed (the database went away): nothing was sent, the
            # answer is still buffered. The app's exception handler answers
            # (a 503), which it does only for a response not yet started, and
            # the handler's own answer, buffered, marked it started.
            ScopeState.from_scope(scope).response_started = False
            raise
        await buffered.flush(send)


# --- idempotency -------------------------------------------------------------------
#
# The key is claimed first, in the request's own transaction: an INSERT that a
# concurrent request with the same key cannot pass until this one ends (it
# waits on the unique index on PostgreSQL; SQLite runs one writer at a time).
# If this one commits, the other finds the stored answer and replays it; if it
# rolls back (an error answer), the claim goes too and the other executes. So
# two requests with one key never both execute, and never meet a
# unique-violation 500 (issue 13 §5).


def _fingerprint(scope: Scope, body: bytes) -> str:
    """Method, path, query string and body: a retry must be the same request."""
    return hashlib.sha256(
        b"\0".join([scope["method"].encode(), scope["path"].encode(),
                    scope.get("query_string", b""), body])
    ).hexdigest()


_CLAIM = (
    "INSERT INTO idempotency_record (id, tenant_id, key, fingerprint,"
    " status_code, content_type, body, created_at)"
    " VALUES ({}, {}, {}, {}, 0, '', '', {})"
    " ON CONFLICT (tenant_id, key) DO NOTHING RETURNING id"
)


async def _replayed(scope: Scope, ctx: TenantContext, key: str, body: bytes, send: Send) -> bool:
    """Claims the key for this request (False), or sends the stored first
    answer of the request that holds it (True)."""
    fingerprint = _fingerprint(scope, body)
    claimed = await db.fetchval(_CLAIM, uuid.uuid4(), ctx.tenant_id, key, fingerprint,
                                dt.datetime.now(dt.timezone.utc))
    if claimed is not None:
        return False
    stored = await db.fetchrow(
        "SELECT fingerprint, status_code, content_type, body"
        " FROM idempotency_record WHERE tenant_id = {} AND key = {}",
        ctx.tenant_id, key,
    )
    if stored is None or int(stored["status_code"]) == 0:  # never committed unfinished
        raise IdempotencyInProgress("a request with this Idempotency-Key is in progress;"
                                    " retry it in a moment")
    if stored["fingerprint"] != fingerprint:
        raise Conflict("this Idempotency-Key was used for a different request")
    stored_body = stored["body"].encode()
    await send({
        "type": "http.response.start",
        "status": int(stored["status_code"]),
        "headers": [
            (b"content-type", stored["content_type"].encode()),
            (b"content-length", str(len(stored_body)).encode()),
            (b"idempotent-replay", b"true"),
        ],
    })
    await send({"type": "http.response.body", "body": stored_body, "more_body": False})
    return True


async def _remember(ctx: TenantContext, key: str, answer: Buffered) -> None:
    """The claimed record gets the answer, committed with the work."""
    await db.execute(
        "UPDATE idempotency_record SET status_code = {}, content_type = {}, body = {}"
        " WHERE tenant_id = {} AND key = {}",
        answer.status, answer.header(b"content-type") or "application/json",
        answer.body().decode("utf-8", "replace"), ctx.tenant_id, key,
    )


class IdempotencyInProgress(Conflict):
    slug = "idempotency-in-progress"


# --- what handlers read -----------------------------------------------------------


def current_context(request: ASGIConnection) -> TenantContext:
    return request.scope[SCOPE_KEY][0]  # type: ignore[literal-required]


def current_tenant(request: ASGIConnection) -> TenantRecord:
    return request.scope[SCOPE_KEY][1]  # type: ignore[literal-required]


# --- resolvers of the public pages ----------------------------------------------------


def link_subject(tenant_of: Callable[[str], uuid.UUID]) -> dict[str, Any]:
    """Route `opt` of a page reached by a signed link in its `token` path
    parameter: `tenant_of(token)` names the tenant (NotFound when forged)."""
    return {"tenant_of": tenant_of}


async def resolve_subject(scope: Scope) -> tuple[TenantContext, TenantRecord]:
    """The person on a public page: the tenant a signed link names, or the
    tenant whose form (`/p/{slug}/...`) this is."""
    params = scope.get("path_params", {})
    tenant_of = scope["route_handler"].opt.get("tenant_of")
    if tenant_of is not None:
        return await envelope.subject(tenant_of(params["token"]))
    if "slug" in params:
        return await envelope.subject_at(params["slug"])
    raise NotFound("no such page", msgid=N_("error.no_page"))


async def resolve_provider(scope: Scope) -> tuple[TenantContext, TenantRecord]:
    """An e-mail provider calling `/inbound/{provider}/{endpoint_id}`: the
    endpoint's public id names the tenant (messaging.inbound.endpoints)."""
    params = scope.get("path_params", {})
    provider = params.get("provider", "")
    if provider not in PROVIDERS:
        raise NotFound("no such inbound endpoint")
    tenant_id, _ = parse_public_id(params.get("endpoint_id", ""))
    try:
        record = await scope["app"].state.tenant_directory.by_id(tenant_id)
    except NotFound:
        raise NotFound("no such inbound endpoint") from None
    return envelope.provider(record, provider)
