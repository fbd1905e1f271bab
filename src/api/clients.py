"""Who is calling: the one answer every limiter and every consent proof uses.

The TCP peer is the client, unless it is one of the reverse proxies named in
`TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right (each trusted
proxy appends the address it saw) and the first hop that is not a trusted
proxy is the client. Anything left of it was written by the client itself and
is never believed: a header sent by anyone else changes nothing (issue 13:
40 password guesses with a new header each time). uvicorn's own
`proxy_headers` is off (`optinbase serve`), so nothing rewrites the peer
before this.

`TrueClient` (app middleware) puts the answer into the ASGI scope's `client`,
so `request.client.host` — the admin's login limiter, the public forms, the
IP recorded as proof — means the same address everywhere.
"""

from __future__ import annotations

import ipaddress
from typing import Sequence

from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: object, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(scope: Scope, proxies: Sequence[Network]) -> str | None:
    """The caller's address (see the module's doc); None when unknown."""
    peer = scope.get("client")
    host = peer[0] if peer else None
    if not proxies or host is None or not _trusted(_address(host), proxies):
        return host
    hops: list[str] = []
    for key, value in scope.get("headers", []):
        if key == b"x-forwarded-for":
            hops.extend(value.decode("latin-1").split(","))
    client = host
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage where an address should be: stop at the last good hop
            break
        client = str(address)
        if not _trusted(address, proxies):
            break
    return client


class TrueClient:
    """App middleware: `scope["client"]` becomes `client_address`."""

    def __init__(self, app: ASGIApp, proxies: Sequence[Network] = ()) -> None:
        self.app, self.proxies = app, tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            peer = scope.get("client")
            address = client_address(scope, self.proxies)
            if address is not None:
                scope["client"] = (address, peer[1] if peer else 0)
        await self.app(scope, receive, send)
