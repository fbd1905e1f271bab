"""Issue 13 §2, webhook SSRF: `check_url` refused only literal private IPs,
only in production; `127.1`, `2130706433`, `0x7f000001` and decimal forms of
169.254.169.254 passed, and nothing checked the address at connect time (DNS
rebinding). Now every notation is refused when the URL is written, and the
webhook client's own transport refuses any connection to an address that is
not public — whatever the name resolved to when it was saved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import socket
import uuid

import pytest

from messaging import egress
from messaging.outbox import OutboxWorker
from messaging.webhooks import check_url, new_secret
from optinbase import db
from optinbase.errors import Invalid
from optinbase.settings import ConfigError, load_settings
from tests.factories import make_tenant, make_world
from tests.messaging.receiver import Receiver
from tests.messaging.scenes import forget, outbox

SENDER = "Optinbase <no-reply@example.org>"

INTERNAL = [
    "http://127.0.0.1:8080/x", "http://127.1/", "http://2130706433/", "http://0x7f000001/",
    "http://017700000001/", "http://0x7f.1/", "http://127.0.0.1./",
    "http://2852039166/latest/meta-data", "http://0xa9fea9fe/",
    "http://169.254.169.254/latest/meta-data", "http://169.254.43518/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[::]/",
    "http://10.1.2.3/", "http://10.1/", "http://172.16.0.1/", "http://192.168.0.10/x",
    "http://100.64.0.1/", "http://0.0.0.0/", "http://0/", "http://224.0.0.1/",
    "http://localhost:9000/", "http://LOCALHOST./", "http://api.localhost/",
]
# Dotted octal (0177.0.0.1 = 127.0.0.1) is refused by httpx's parser itself.
UNUSABLE = ["http://0177.0.0.1/", "http://0251.0376.0251.0376/", "http://a:b/", "http://xn--ls8h.la/", "http://\u2603.net/", "http://exa mple.com/",
            "http://%31%32%37.0.0.1/", "http://a..b/", "http://-/", "http://x/\r\nHost: y"]
PUBLIC = ["https://hooks.example.com/in", "http://93.184.216.34/in", "http://[2606:4700::1111]/",
          "https://xn--exmple-cua.fr/hooks", "https://exämple.fr/hooks"]


@pytest.mark.parametrize("url", INTERNAL)
def test_every_internal_notation_is_refused(url):
    with pytest.raises(Invalid) as refused:
        check_url(url)
    assert refused.value.extra["errors"][0]["field"] == "url"
    assert check_url(url, allow_private=True) == url  # development may (WEBHOOK_ALLOW_PRIVATE=1)


@pytest.mark.parametrize("url", UNUSABLE)
def test_urls_the_client_cannot_use_are_refused_even_in_development(url):
    for allow_private in (False, True):
        with pytest.raises(Invalid):
            check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_targets_are_accepted(url):
    assert check_url(url) == url


async def test_the_api_answers_422_naming_the_field(client):
    tenant = await make_tenant()
    for url in ("http://2130706433/", "http://[::ffff:127.0.0.1]/", "http://a:b/"):
        answer = await client.post("/v1/webhooks", headers=tenant.headers,
                                   json={"url": url, "events": ["consent.changed"]})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "url"
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json() == []


@pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254",
                                     "::ffff:a9fe:a9fe", "2002:a00:1::", "10.0.0.1", "::1"])
def test_the_transport_check_sees_through_embedded_addresses(address):
    assert not egress.is_public(ipaddress.ip_address(address))


async def _endpoint_row(tenant, url: str) -> None:
    """An endpoint as stored (bypassing the creation check, as data from before it)."""
    async with db.tenant_transaction(tenant.id):
        await db.execute(
            "INSERT INTO webhook_endpoint (id, tenant_id, url, events, secret, created_at,"
            " disabled_at) VALUES ({}, {}, {}, {}, {}, {}, NULL)",
            uuid.uuid4(), tenant.id, url, json.dumps(["consent.changed"]), new_secret(),
            dt.datetime.now(dt.timezone.utc))


async def _deliver(client, tenant, allow_private: bool) -> dict:
    await make_world(tenant)  # a grant: one consent.changed delivery
    worker = OutboxWorker("", SENDER, allow_private=allow_private)
    try:
        await worker.run_once()
    finally:
        await worker.close()
    [row] = [r for r in await outbox(tenant) if r["kind"] == "webhook"]
    return dict(row)


async def test_literal_notations_are_refused_at_connect_time(client):
    receiver = Receiver().start()
    try:
        for host in ("2130706433", "127.1", "0x7f000001", "[::ffff:127.0.0.1]"):
            tenant = await make_tenant()
            await _endpoint_row(tenant, f"http://{host}:{receiver.port}/hooks")
            row = await _deliver(client, tenant, allow_private=False)
            assert row["status"] == "pending", host
            assert "not a public address" in row["last_error"], row["last_error"]
            await forget(tenant)
    finally:
        receiver.stop()
    assert receiver.requests == []


def _local_name() -> str | None:
    """A host name that is valid and resolves to a non-public address here."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    if not addresses or any(egress.is_public(ipaddress.ip_address(a)) for a in addresses):
        return None
    if not {"127.0.0.1", "::1"} & addresses:
        return None
    return name


@pytest.mark.skipif(_local_name() is None, reason="this host's name does not resolve to loopback")
async def test_a_name_that_resolves_inward_is_refused_at_connect_time(client, private_client):
    """The name passes the creation check (it is a name); at delivery it
    resolves to this machine (as a rebinding DNS server would make it) and the
    transport refuses. The same endpoint is delivered when private addresses
    are allowed: the refusal is the guard's, not the network's."""
    receiver = Receiver().start()
    url = f"http://{_local_name()}:{receiver.port}/hooks"
    try:
        guarded = await make_tenant()
        answer = await client.post("/v1/webhooks", headers=guarded.headers,
                                   json={"url": url, "events": ["consent.changed"]})
        assert answer.status_code == 201, answer.text
        refused = await _deliver(client, guarded, allow_private=False)
        assert receiver.requests == []
        assert refused["status"] == "pending" and "not a public address" in refused["last_error"]
        allowed = await make_tenant()
        answer = await private_client.post("/v1/webhooks", headers=allowed.headers,
                                           json={"url": url, "events": ["consent.changed"]})
        assert answer.status_code == 201, answer.text
        delivered = await _deliver(private_client, allowed, allow_private=True)
    finally:
        receiver.stop()
        await forget(guarded)
    assert delivered["status"] == "sent" and len(receiver.requests) == 1


def test_private_targets_are_for_development_only(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example.com")
    monkeypatch.setenv("ARGON2_PROFILE", "owasp-minimum")  # the suite's is refused in production
    monkeypatch.setenv("OPTINBASE_ENV", "development")
    assert load_settings().webhook_allow_private is True
    monkeypatch.setenv("OPTINBASE_ENV", "production")
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE"):
        load_settings()
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE")
    assert dataclasses.asdict(load_settings())["webhook_allow_private"] is False
