"""The outermost layer of every HTTP answer (API, pages, admin, health,
metrics, errors and unknown paths alike): the request id, the one log line per
request, and the request metrics.

* **Request id.** `X-Request-ID` from the caller is believed only when the
  connection comes from a trusted proxy (`TRUSTED_PROXIES`, CIDRs) and the
  value is a plain token (≤ 128 characters of letters, digits, `.`, `_`, `:`,
  `-`); otherwise a new one is generated. It is returned on every answer, set
  for the request's log lines, and carried into the outbox jobs the request
  queues (`optinbase.logs.request_id`).
* **One line per request**, after the answer: method, route template (never
  the raw path: it may hold a token or an id), status, duration, tenant id when
  one was resolved. Never the client's address, query string or headers.
* **Metrics** (`optinbase.metrics`): counted by route template and status class.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re
import time
from typing import Any, Iterable, Optional

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from optinbase import logs, metrics

logger = logging.getLogger("optinbase.request")

HEADER = b"x-request-id"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SCOPE_KEY = "optinbase"  # api.envelope.SCOPE_KEY: (TenantContext, TenantRecord)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(settings: Any) -> list[Network]:
    """The proxies whose `X-Request-ID` is believed: the settings' parsed
    `trusted_proxies` when they have one, else `TRUSTED_PROXIES` read here
    (comma- or space-separated CIDRs or addresses). A malformed entry is
    ignored here (the settings refuse it at start-up where they parse it)."""
    configured = getattr(settings, "trusted_proxies", None)
    if configured is None:
        configured = os.environ.get("TRUSTED_PROXIES", "")
    if isinstance(configured, str):
        configured = re.split(r"[,\s]+", configured.strip())
    networks: list[Network] = []
    for entry in configured if isinstance(configured, Iterable) else ():
        if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            networks.append(entry)
            continue
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            continue
    return networks


def _peer(scope: Scope) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    client = scope.get("client")
    try:
        return ipaddress.ip_address(client[0]) if client else None
    except ValueError:
        return None


class _Ids:
    """New request ids: a random 64-bit prefix per process (drawn again in a
    forked child) and a counter, 32 hex digits like a uuid4's. A uuid4 reads
    the system's random source on every request; an id need only be unique,
    not secret (a caller may choose its own through a trusted proxy)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _Ids()


def _given(scope: Scope) -> Optional[str]:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _PLAIN.fullmatch(text) else None
    return None


class RequestLog:
    """ASGI wrapper of the Litestar app's handler (`app.asgi_handler`)."""

    def __init__(self, app: ASGIApp, trusted: list[Network]) -> None:
        self.app, self.trusted = app, trusted

    def request_id(self, scope: Scope) -> str:
        given = _given(scope) if self.trusted else None
        if given is not None:
            peer = _peer(scope)
            if peer is not None and any(peer in network for network in self.trusted):
                return given
        return _ids.new()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self.request_id(scope)
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                headers.append((HEADER, rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._observe(scope, status, elapsed)
            logs.request_id.reset(token)

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        route = route_of(scope)
        if logger.isEnabledFor(logging.INFO):  # the line's fields are built only to be written
            fields: dict[str, Any] = {
                "method": scope.get("method"), "route": route, "status": status,
                "duration_ms": round(elapsed * 1000, 1),
            }
            resolved = scope.get(SCOPE_KEY)  # type: ignore[call-overload]
            if resolved:
                fields["tenant_id"] = str(resolved[0].tenant_id)
            logger.info("request", extra={"fields": fields})
        metrics.record_request(scope.get("method"), route, status, elapsed)


def route_of(scope: Scope) -> str:
    """The route template (`/v1/contacts/{contact_id:uuid}`), bounded: an
    unknown path is `unmatched`, anything under a mount (the admin) the mount
    point, `/admin`."""
    handler = scope.get("route_handler")  # type: ignore[call-overload]
    if getattr(handler, "is_mount", False):
        # A mount (the admin): the router leaves no template, and the path left
        # in the scope is the part below the mount point.
        return min(handler.paths)
    template = scope.get("path_template")  # type: ignore[call-overload]
    return str(template) if template else "unmatched"
