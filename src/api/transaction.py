"""One database transaction per API request, scoped to the caller's tenant.

Writes are buffered: the answer is sent only after the commit succeeded (a
commit failing after the response started would be invisible to the client),
an error answer rolls everything back (nothing half-written), and a write sent
with `Idempotency-Key` stores its first answer in the same transaction so a
retry replays it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Conflict, DomainError, Invalid

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PayloadTooLarge(DomainError):
    status = 413
    title = "Request body too large"
    slug = "payload-too-large"


class _Rollback(Exception):
    pass


class _Buffered:
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


async def _read_body(receive: Receive, limit: int) -> bytes:
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


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class TenantTransactionMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = 1_048_576) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context: TenantContext = scope["user"]
        if scope["method"] in SAFE_METHODS:
            if scope["route_handler"].opt.get("own_transaction"):
                # The service orders its own reads, e.g. the ledger's verify
                # reads the checkpoint log before taking its snapshot.
                await self.app(scope, receive, send)
                return
            async with db.tenant_transaction(context.tenant_id, write=False):
                await self.app(scope, receive, send)
            return
        limit = scope.get("route_handler").opt.get("max_body_bytes", self.max_body_bytes)
        body = await _read_body(receive, limit)
        key = _header(scope, b"idempotency-key")
        if key is not None and not (1 <= len(key) <= 255):
            raise Invalid("Idempotency-Key must be 1 to 255 characters",
                          errors=[{"field": "Idempotency-Key", "message": "1 to 255 characters"}])
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), body])
        ).hexdigest()
        buffered = _Buffered()
        try:
            async with db.tenant_transaction(context.tenant_id, write=True):
                if key is not None:
                    stored = await db.fetchrow(
                        "SELECT fingerprint, status_code, content_type, body"
                        " FROM idempotency_record WHERE tenant_id = {} AND key = {}",
                        context.tenant_id, key,
                    )
                    if stored is not None:
                        if stored["fingerprint"] != fingerprint:
                            raise Conflict(
                                "this Idempotency-Key was used for a different request"
                            )
                        await _send_stored(send, stored)
                        return
                await self.app(scope, _replay(body), buffered)
                if buffered.status >= 400:
                    raise _Rollback
                if key is not None:
                    await db.execute(
                        "INSERT INTO idempotency_record (id, tenant_id, key, fingerprint,"
                        " status_code, content_type, body, created_at)"
                        " VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                        uuid.uuid4(), context.tenant_id, key, fingerprint, buffered.status,
                        buffered.header(b"content-type") or "application/json",
                        buffered.body().decode("utf-8", "replace"),
                        dt.datetime.now(dt.timezone.utc),
                    )
        except _Rollback:
            pass
        await buffered.flush(send)


async def _send_stored(send: Send, stored: Any) -> None:
    body = stored["body"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": int(stored["status_code"]),
            "headers": [
                (b"content-type", stored["content_type"].encode()),
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replay", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
