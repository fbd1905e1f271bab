"""Who the client is: X-Forwarded-For is believed only from TRUSTED_PROXIES,
read from the right; everything else keys on the TCP peer. Issue 13 saw 40
more password guesses with a new X-Forwarded-For each time, and the public
forms e-mail any address 20/20 times."""

from __future__ import annotations

import dataclasses
import ipaddress

import httpx
import pytest

from api.app import create_app
from api.clients import client_address
from optinbase import db, limits
from optinbase.settings import get_settings
from tests import apps
from tests.factories import make_notice, make_purpose, make_tenant

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def _scope(peer: str, *forwarded: str) -> dict:
    return {"client": (peer, 5555),
            "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    # No trusted proxy: the header is anyone's to write and changes nothing.
    ("198.51.100.7", ["1.2.3.4"], "198.51.100.7"),
    ("127.0.0.1", ["203.0.113.50"], "127.0.0.1"),
    # From a trusted proxy: the rightmost hop that is not a proxy.
    ("10.0.0.2", ["203.0.113.50"], "203.0.113.50"),
    ("10.0.0.2", ["6.6.6.6, 203.0.113.50, 10.1.1.1"], "203.0.113.50"),
    ("10.0.0.2", ["6.6.6.6", "203.0.113.50"], "203.0.113.50"),  # two header lines
    ("10.0.0.2", ["6.6.6.6, not-an-address"], "10.0.0.2"),  # garbage: the proxy itself
    ("10.0.0.2", [], "10.0.0.2"),
    ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
    ("10.0.0.2", ["198.51.100.9:1234"], "198.51.100.9"),
    ("::ffff:10.0.0.2", ["203.0.113.50"], "203.0.113.50"),  # an IPv4-mapped proxy
    ("fd00::5", ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),  # every hop a proxy: the leftmost
])
def test_client_address(peer, forwarded, expected):
    proxies = () if peer in ("198.51.100.7", "127.0.0.1") else PROXIES
    assert client_address(_scope(peer, *forwarded), proxies) == expected


async def _form(tenant) -> dict:
    await make_purpose(tenant, "news")
    notice = await make_notice(tenant, "news", ("email",))
    return {"consents": [{"channel": "email", "purpose": "news", "notice_id": notice["id"]}]}


async def test_spoofed_forwarding_header_does_not_escape_the_form_limit(client):
    tenant = await make_tenant()
    body = await _form(tenant)
    statuses = []
    for i in range(12):
        answer = await client.post(f"/p/{tenant.slug}/subscribe",
                                   headers={"X-Forwarded-For": f"203.0.113.{i}",
                                            "Accept": "application/json"},
                                   json={**body, "email": f"spoof{i}@example.org"})
        statuses.append(answer.status_code)
    assert statuses[:10] == [202] * 10 and statuses[10:] == [429, 429]
    assert answer.headers["retry-after"] == str(limits.SUBSCRIBE.retry_after())
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_trusted_proxy_forwards_the_client_and_the_proof_records_it(backend):
    """Behind a trusted proxy, each client has its own count and the consent
    proof records the client's address, not the proxy's."""
    settings = dataclasses.replace(get_settings(),
                                   trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    app = apps.reset(create_app(settings))
    tenant = await make_tenant()
    body = await _form(tenant)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for i in range(12):  # twelve clients, one post each: none is limited
            answer = await http.post(f"/p/{tenant.slug}/subscribe",
                                     headers={"X-Forwarded-For": f"6.6.6.6, 203.0.113.{i}"},
                                     json={**body, "email": f"via{i}@example.org"})
            assert answer.status_code == 202, (i, answer.text)
        same = [(await http.post(f"/p/{tenant.slug}/subscribe",
                                 headers={"X-Forwarded-For": f"{i}.9.9.9, 198.51.100.1"},
                                 json={**body, "email": f"one{i}@example.org"})).status_code
                for i in range(11)]
        assert same == [202] * 10 + [429]  # one client, whatever it writes on the left
    async with db.tenant_transaction(tenant.id, write=False):
        ips = {row["ip"] for row in await db.fetch(
            "SELECT ip FROM consent_event WHERE tenant_id = {}", tenant.id)}
    assert ips == {f"203.0.113.{i}" for i in range(12)} | {"198.51.100.1"}
