"""`X-Request-ID`: believed only from a trusted proxy and only as a plain token;
returned on every answer (problems and unknown paths too); and the log's
second wall, `redact`, masks what could name a subscriber."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from api.requestlog import RequestLog, trusted_networks
from optinbase import logs


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"x-request-id", b"from-the-handler")]})
    await send({"type": "http.response.body", "body": (logs.request_id.get() or "").encode()})


async def _ask(trusted: list, client: str, given: str | None) -> httpx.Response:
    app = RequestLog(_answer, trusted)
    transport = httpx.ASGITransport(app=app, client=(client, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get("/x", headers={"X-Request-ID": given} if given else {})


@pytest.mark.parametrize("trusted, client, given, kept", [
    (["10.0.0.0/8"], "10.1.2.3", "abc-123.proxy:7", True),
    (["10.0.0.0/8"], "192.0.2.1", "abc-123", False),  # not from the proxy
    ([], "10.1.2.3", "abc-123", False),  # no trusted proxy at all (the default)
    (["10.0.0.0/8"], "10.1.2.3", "has space", False),  # not a plain token
    (["10.0.0.0/8"], "10.1.2.3", "x" * 129, False),
])
async def test_request_id_from_trusted_proxies_only(trusted, client, given, kept):
    networks = trusted_networks(type("S", (), {"trusted_proxies": trusted})())
    answer = await _ask(networks, client, given)
    ids = answer.headers.get_list("x-request-id")
    assert len(ids) == 1 and answer.text == ids[0]  # one header, the id the handler saw
    assert (ids[0] == given) is kept
    if not kept:
        assert len(ids[0]) == 32 and int(ids[0], 16) >= 0


def test_trusted_networks_read_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::/32 bogus")
    assert trusted_networks(object()) == [ipaddress.ip_network("10.0.0.0/8"),
                                          ipaddress.ip_network("2001:db8::/32")]
    monkeypatch.delenv("TRUSTED_PROXIES")
    assert trusted_networks(object()) == []
    as_text = type("S", (), {"trusted_proxies": "192.0.2.0/24,198.51.100.7"})()
    assert trusted_networks(as_text) == [ipaddress.ip_network("192.0.2.0/24"),
                                         ipaddress.ip_network("198.51.100.7/32")]


async def test_every_answer_carries_an_id(client):
    for path in ("/health", "/v1/tenant", "/nowhere", "/p/confirm/forged", "/schema/openapi.json"):
        answer = await client.get(path)
        assert len(answer.headers.get("x-request-id", "")) == 32, path


def test_redaction():
    text = ("550 <anne.o'neil@example.fr> refused; from 203.0.113.5 / 2001:db8::1 at 10:52:33;"
            " call +33 6 12 34 56 78; http://h/p/unsubscribe/abc.DEF-1_2?x=1;"
            " key obk_ab12_secretpart; at 2026-12-01T10:00:00+01:00 on 127.0.0.1")
    masked = logs.redact(text)
    for secret in ("anne", "203.0.113.5", "2001:db8::1", "12 34 56", "abc.DEF", "secretpart"):
        assert secret not in masked
    for kept in ("10:52:33", "2026-12-01T10:00:00+01:00", "127.0.0.1", "/p/unsubscribe/<token>"):
        assert kept in masked


async def test_admin_requests_are_logged_under_the_admin_route(client, caplog):
    """The admin mount is one bounded route, `/admin` — not `unmatched` beside
    the scans of unknown paths."""
    caplog.set_level("INFO", logger="optinbase.request")
    assert (await client.get("/admin/")).status_code == 200
    await client.get("/admin/api/tables/")
    await client.get("/nowhere")
    routes = [(r.fields["route"], r.fields["status"]) for r in caplog.records
              if r.name == "optinbase.request"]
    assert routes[:2] == [("/admin", 200), ("/admin", 401)]
    assert routes[2] == ("unmatched", 404)
