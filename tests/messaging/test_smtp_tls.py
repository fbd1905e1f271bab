"""Issue 13 §4: SMTP was forced to start_tls=False. Now STARTTLS is used when
offered and required for hosts that are not loopback, unless SMTP_URL says
otherwise (`?tls=none`, or `smtps://` for TLS from the first byte). Real
aiosmtpd servers, with and without STARTTLS, with a certificate of a CA made
for the test (trusted with `?cafile=`)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from messaging.mail import SmtpMailer
from messaging.outbox import OutboxWorker, enqueue_email
from optinbase import db
from tests.factories import make_tenant
from tests.messaging.scenes import outbox
from tests.messaging.smtp import SmtpServer, make_ca

SENDER = "Optinbase <no-reply@example.org>"


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (to play a remote host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


OUTSIDE = _outside_address()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"), ips=("127.0.0.1",) + ((OUTSIDE,) if OUTSIDE else ()))


async def _send_one(tenant, url: str) -> dict:
    async with db.tenant_transaction(tenant.id):
        await enqueue_email(tenant.id, to="tls@example.com", subject="TLS?", text="Hello")
    worker = OutboxWorker(url, SENDER)
    await worker.run_once()
    [row] = await outbox(tenant)
    return dict(row)


async def test_starttls_is_used_when_a_loopback_server_offers_it(backend, ca):
    server = SmtpServer(starttls=ca.server_context()).start()
    try:
        row = await _send_one(await make_tenant(), f"{server.url}?cafile={ca.cafile}")
    finally:
        server.stop()
    assert row["status"] == "sent", row["last_error"]
    # By recipient: the worker also delivers what other tests left due.
    assert [r.tls for r in server.received if r.rcpt_tos == ["tls@example.com"]] == [True]


async def test_a_loopback_server_without_starttls_still_gets_mail(backend):
    server = SmtpServer().start()
    try:
        row = await _send_one(await make_tenant(), server.url)
    finally:
        server.stop()
    assert row["status"] == "sent", row["last_error"]
    assert [r.tls for r in server.received] == [False]


async def test_tls_starttls_requires_it_even_on_loopback(backend):
    server = SmtpServer().start()
    try:
        row = await _send_one(await make_tenant(), f"{server.url}?tls=starttls")
    finally:
        server.stop()
    assert server.received == []  # nothing went out in clear
    assert row["status"] == "pending" and "STARTTLS" in row["last_error"].upper()


async def test_a_certificate_nobody_vouches_for_is_refused(backend, ca):
    server = SmtpServer(starttls=ca.server_context()).start()
    try:
        row = await _send_one(await make_tenant(), f"{server.url}?tls=starttls")  # no cafile
    finally:
        server.stop()
    assert server.received == []
    assert row["status"] == "pending" and "CERTIFICATE" in row["last_error"].upper()


@pytest.mark.skipif(OUTSIDE is None, reason="needs a non-loopback address on this machine")
async def test_a_remote_host_must_offer_starttls(backend, ca):
    plain = SmtpServer(host=OUTSIDE).start()
    try:
        refused = await _send_one(await make_tenant(), plain.url)
        allowed = await _send_one(await make_tenant(), f"{plain.url}?tls=none")
    finally:
        plain.stop()
    assert refused["status"] == "pending" and "STARTTLS" in refused["last_error"].upper()
    assert allowed["status"] == "sent"  # the operator said so
    assert [r.tls for r in plain.received] == [False]
    secure = SmtpServer(host=OUTSIDE, starttls=ca.server_context()).start()
    try:
        row = await _send_one(await make_tenant(), f"{secure.url}?cafile={ca.cafile}")
    finally:
        secure.stop()
    assert row["status"] == "sent", row["last_error"]
    assert [r.tls for r in secure.received] == [True]


async def test_smtps_is_tls_from_the_first_byte(backend, ca):
    server = SmtpServer(implicit_tls=ca.server_context()).start()
    try:
        row = await _send_one(await make_tenant(), f"{server.url}?cafile={ca.cafile}")
    finally:
        server.stop()
    assert server.url.startswith("smtps://")
    assert row["status"] == "sent", row["last_error"]
    # By recipient: the worker also delivers what other tests left due.
    assert [r.tls for r in server.received if r.rcpt_tos == ["tls@example.com"]] == [True]


@pytest.mark.parametrize(("url", "start_tls", "port"), [
    ("smtp://mail.example.com", True, 25),  # remote: required
    ("smtp://mail.example.com:587?tls=none", False, 587),
    ("smtp://127.0.0.1:25", None, 25),  # loopback: when offered
    ("smtp://localhost:2525?tls=starttls", True, 2525),
    ("smtps://mail.example.com", False, 465),  # TLS from the start instead
])
def test_smtp_url_forms(url, start_tls, port):
    mailer = SmtpMailer(url)
    assert (mailer.start_tls, mailer.port) == (start_tls, port)
    assert mailer.implicit_tls is url.startswith("smtps:")


@pytest.mark.parametrize("url", [
    "smtp://mail.example.com?tls=maybe", "smtps://mail.example.com?tls=none",
    "smtp://user:secret@mail.example.com?tls=none", "smtp://mail.example.com?verify=0",
    "http://mail.example.com", "smtp://mail.example.com:notaport", "smtp:///nohost",
])
def test_unusable_smtp_urls_are_refused(url):
    with pytest.raises(ValueError):
        SmtpMailer(url)


def test_the_worker_refuses_to_start_with_an_unusable_smtp_url(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
           "SECRET_KEY_FILE": str(tmp_path / "s"), "SMTP_URL": "smtp://mail.example.com?tls=maybe"}
    done = subprocess.run([sys.executable, "-m", "cli", "worker", "--once"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "optinbase: SMTP_URL: tls must be one of starttls, none"]
    production = subprocess.run([sys.executable, "-m", "cli", "worker", "--once"], timeout=60,
                                env={**env, "SMTP_URL": "", "OPTINBASE_ENV": "production",
                                     "SECRET_KEY": "k" * 40}, capture_output=True, text=True)
    assert production.returncode == 1
    assert "SMTP_URL is required" in production.stderr
