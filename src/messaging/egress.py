"""Where the server may connect when a tenant gives it a URL (webhooks): public
addresses only, checked on the address actually connected to.

A webhook URL is the integrator's, so it is hostile input: `127.1`,
`2130706433`, `0x7f000001`, `0177.0.0.1`, `2852039166` (169.254.169.254, the
cloud metadata service), `[::ffff:127.0.0.1]`, a name that resolves to a
private address, or one that resolves to a public address when the URL is
saved and to 127.0.0.1 when it is used (DNS rebinding). So:

* `check_host` (at creation) refuses every literal notation the resolver
  would accept (`socket.inet_aton` reads all the IPv4 short, decimal, hex and
  octal forms) and IPv6 literals whose embedded IPv4 is not public;
* `GuardedBackend`, the network backend of the webhook client's transport,
  resolves the name itself at delivery, refuses the connection if ANY address
  is not public, connects to the vetted address (no second resolution), and
  checks the peer of the socket it got.

`WEBHOOK_ALLOW_PRIVATE=1` (development and tests only; refused in production)
lifts both checks.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import typing

import anyio
import httpcore
import httpx

Address = typing.Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeAddress(httpcore.ConnectError):
    """The destination is not a public address (httpx reports a ConnectError)."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> typing.Optional[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 one carries: mapped (::ffff:a.b.c.d), compatible
    (::a.b.c.d), 6to4, Teredo (either end) or NAT64 (64:ff9b::/96)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if int(address) >> 32 == 0:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        server, client = address.teredo
        return client if server.is_global else server
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally routable, and so is any IPv4 address it embeds."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return False
    return True


def literal_address(host: str) -> typing.Optional[Address]:
    """The address a host names literally, in any notation the resolver accepts."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        pass
    if ":" in host:
        return None
    try:  # 127.1, 2130706433, 0x7f000001, 0177.0.0.1 ...
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except (OSError, ValueError):
        return None


_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def check_host(host: str) -> str:
    """Returns why `host` (ASCII/IDNA form, as httpx's raw host) may not be
    used, or "" when it may: literal non-public addresses in any notation,
    `localhost` names, and names the resolver could not look up."""
    host = host.lower()
    address = literal_address(host)
    if address is not None:
        return "" if is_public(address) else f"{address} is not a public address"
    name = host[:-1] if host.endswith(".") else host
    if name == "localhost" or name.endswith(".localhost"):
        return "it names this machine"
    labels = name.split(".")
    if len(name) > 253 or any(not 0 < len(label) < 64 or set(label) - _LABEL_CHARS
                              or label[0] == "-" or label[-1] == "-" for label in labels):
        return "it is not a valid host name"
    return ""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to public addresses."""

    def __init__(self, inner: typing.Optional[httpcore.AsyncNetworkBackend] = None):
        self.inner = inner or httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> list[Address]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        found: list[Address] = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
                if address not in found:
                    found.append(address)
        if not found:
            raise httpcore.ConnectError(f"{host} has no address")
        return found

    async def connect_tcp(self, host: str, port: int, timeout: typing.Optional[float] = None,
                          local_address: typing.Optional[str] = None,
                          socket_options: typing.Optional[typing.Iterable[typing.Any]] = None,
                          ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            addresses = await self._resolve(host, port)
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeAddress(f"refused: {host} resolves to {refused[0]}, which is not a public"
                                " address (WEBHOOK_ALLOW_PRIVATE=1 allows it in development)")
        last: typing.Optional[Exception] = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(str(address), port, timeout=timeout,
                                                      local_address=local_address,
                                                      socket_options=socket_options)
            except httpcore.ConnectError as exc:
                last = exc
                continue
            peer = stream.get_extra_info("server_addr")
            if peer is None or not is_public(ipaddress.ip_address(str(peer[0]).split("%", 1)[0])):
                await stream.aclose()
                raise UnsafeAddress(f"refused: connected to {peer}, which is not a public address")
            return stream
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(self, path: str, timeout: typing.Optional[float] = None,
                                  socket_options: typing.Optional[typing.Iterable[typing.Any]] = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise UnsafeAddress("refused: unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with `GuardedBackend` underneath (no proxies from the
    environment: the check must see the real destination). With
    `allow_private`, httpx's own transport is used as it is."""

    def __init__(self, *, allow_private: bool = False):
        super().__init__(verify=_tls_context(), trust_env=False)
        if not allow_private:
            # The pool httpx would build, with our backend (httpx takes none).
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=_tls_context(), keepalive_expiry=5.0,
                network_backend=GuardedBackend(),
            )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's verifying context (certifi's CAs), built once per process: each
    build loads the CAs again (~30 ms of CPU), and a transport built two."""
    return httpx.create_ssl_context(trust_env=False)


def client(*, allow_private: bool, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The HTTP client for deliveries to tenants' URLs."""
    return httpx.AsyncClient(transport=GuardedTransport(allow_private=allow_private),
                             timeout=timeout, follow_redirects=False, trust_env=False)
