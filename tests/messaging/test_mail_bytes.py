"""Issue 12 §4: one-click unsubscribe works in real mail clients.

Python's e-mail policy folded `List-Unsubscribe` into RFC 2047 encoded-words
(`=?utf-8?q?=3Chttp=3A//…?=`): no URI at all for Gmail or Yahoo. Tests passed
because they read the header back through Python's own decoding. These read
the RAW BYTES the SMTP server received (aiosmtpd's envelope content)."""

from __future__ import annotations

import email.header
import re

import pytest

from messaging.mail import MAX_LINE, Undeliverable, render
from messaging.outbox import OutboxWorker, enqueue_email
from optinbase import db
from tests.factories import as_owner, make_tenant
from tests.messaging.scenes import ask_confirmation, outbox
from tests.messaging.smtp import SmtpServer

SENDER = "Équipe Café Crème <no-reply@example.org>"


def _headers(raw: bytes) -> list[bytes]:
    """The header lines exactly as sent (folded lines kept apart)."""
    head, separator, _ = raw.partition(b"\r\n\r\n")
    assert separator, "no blank line ends the header"
    return head.split(b"\r\n")


def _field(raw: bytes, name: str) -> bytes:
    """One header's raw value, folded lines joined (unfolding keeps the CRLF out)."""
    found = re.search(rb"(?:^|\r\n)" + name.encode() + rb": (.*?)(?=\r\n(?! )|\Z)",
                      raw.partition(b"\r\n\r\n")[0], re.S | re.I)
    assert found, f"no {name} header"
    return found.group(1).replace(b"\r\n", b"")


def _decoded(value: bytes) -> str:
    return str(email.header.make_header(email.header.decode_header(value.decode("ascii"))))


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


async def test_one_click_headers_arrive_as_plain_uris(client, smtp):
    tenant = await make_tenant()
    async with as_owner():
        await db.execute("UPDATE tenant SET name = {} WHERE id = {}", "Café Crème SAS", tenant.id)
    person = await ask_confirmation(client, tenant)
    [queued] = await outbox(tenant)
    worker = OutboxWorker(smtp.url, SENDER)
    await worker.run_once()
    [received] = [r for r in smtp.received if r.rcpt_tos == [person["email"]]]
    raw = received.raw

    for line in _headers(raw):  # every header line: ASCII, within RFC 5322's limit
        assert line.isascii() and len(line) <= MAX_LINE, line
    unsubscribe = re.search(rb"\r\nList-Unsubscribe: <(http://127\.0\.0\.1:8000/p/unsubscribe/"
                            rb"[A-Za-z0-9_.-]+)>\r\n", raw)
    assert unsubscribe, "List-Unsubscribe is not one plain URI on one line"
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert re.search(rb"\r\nMessage-ID: <[0-9a-f-]{36}@example\.org>\r\n", raw)
    assert re.search(rb"\r\nTo: " + re.escape(person["email"].encode()) + rb"\r\n", raw)

    sender = _field(raw, "From")  # the name encoded, the address plain and intact
    assert sender.startswith(b"=?utf-8?") and sender.endswith(b" <no-reply@example.org>")
    assert _decoded(sender[: -len(b" <no-reply@example.org>")]) == "Équipe Café Crème"

    subject = _field(raw, "Subject")  # RFC 2047 only where needed
    assert subject.startswith(b"Confirmez votre inscription ")  # ASCII words stay plain
    words = re.findall(rb"=\?utf-8\?[qb]\?[^?]*\?=", subject, re.I)
    assert words and all(len(w) <= 75 for w in words)
    assert _decoded(subject) == queued["subject"] == "Confirmez votre inscription — Café Crème SAS"

    # What a mail client does with the header: POST the URI, RFC 8058 body.
    path = unsubscribe.group(1).decode().removeprefix("http://127.0.0.1:8000")
    answer = await client.post(path, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    check = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "contact_id": person["id"], "channel": "email", "purpose": "newsletter"})
    assert check.json()["status"] == "withdrawn"


async def test_a_long_uri_is_never_folded_or_encoded(backend, smtp):
    tenant = await make_tenant()
    url = "https://unsubscribe.example.com/p/unsubscribe/" + "a1B2-c3_D4." * 60  # ~700 chars
    async with db.tenant_transaction(tenant.id):
        await enqueue_email(tenant.id, to="long@example.com", subject="Plain ASCII subject",
                            text="Body", headers={"List-Unsubscribe": f"<{url}>",
                                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    worker = OutboxWorker(smtp.url, "Optinbase <no-reply@example.org>")
    await worker.run_once()
    [raw] = [r.raw for r in smtp.received if r.rcpt_tos == ["long@example.com"]]
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw
    assert b"\r\nSubject: Plain ASCII subject\r\n" in raw  # ASCII text is not encoded
    assert raw.startswith(b"From: Optinbase <no-reply@example.org>\r\n")
    assert b"=?" not in raw.partition(b"\r\n\r\n")[0]


async def test_non_ascii_bodies_and_domains_travel_safely(backend, smtp):
    tenant = await make_tenant()
    async with db.tenant_transaction(tenant.id):
        await enqueue_email(tenant.id, to="zoé@exämple.fr", subject="Ça va ?",
                            text="Voilà, à bientôt — l'équipe\n" + "x" * 1200 + "\n")
    await OutboxWorker(smtp.url, "Optinbase <no-reply@example.org>").run_once()
    rows = await outbox(tenant)
    assert [r["status"] for r in rows] == ["dead"]  # a non-ASCII local part needs SMTPUTF8
    async with db.tenant_transaction(tenant.id):
        await enqueue_email(tenant.id, to="zoe@exämple.fr", subject="Ça va ?",
                            text="Voilà, à bientôt — l'équipe\n" + "x" * 1200 + "\n")
    await OutboxWorker(smtp.url, "Optinbase <no-reply@example.org>").run_once()
    [received] = [r for r in smtp.received if r.rcpt_tos == ["zoe@xn--exmple-cua.fr"]]
    assert b"\r\nTo: zoe@xn--exmple-cua.fr\r\n" in received.raw
    assert all(len(line) <= MAX_LINE and line.isascii() for line in received.raw.split(b"\r\n"))
    [message] = [m for m in smtp.messages if m["To"] == "zoe@xn--exmple-cua.fr"]
    text = message.get_content().replace("\r\n", "\n")  # wire line ends
    assert text == "Voilà, à bientôt — l'équipe\n" + "x" * 1200 + "\n"  # long line rejoined


@pytest.mark.parametrize(("subject", "headers", "recipient"), [
    ("Hello\r\nBcc: victim@example.com", {}, "a@example.com"),
    ("Hello\n", {}, "a@example.com"),
    ("Hello", {"List-Unsubscribe": "<http://x/\r\nBcc: victim@example.com>"}, "a@example.com"),
    ("Hello", {"List-Unsubscribe": "<http://exämple.com/u>"}, "a@example.com"),
    ("Hello", {"List-Unsubscribe": "<http://x/" + "a" * 1000 + ">"}, "a@example.com"),
    ("Hello", {"Bcc": "victim@example.com"}, "a@example.com"),
    ("Hello", {"X-Bad Name": "1"}, "a@example.com"),
    ("Hello", {}, "a@example.com\r\nRCPT TO:<victim@example.com>"),
    ("Hello", {}, "not an address"),
])
def test_what_could_never_be_sent_is_refused(subject, headers, recipient):
    with pytest.raises(Undeliverable):
        render("Optinbase <no-reply@example.org>", recipient, subject,
               {"text": "x", "headers": headers})


def test_a_sender_that_cannot_be_written_stops_the_start():
    for sender in ("no address", "Acme <a@b>\r\nBcc: x@y", "Ünï <ü@example.org>"):
        with pytest.raises(ValueError):
            OutboxWorker("", sender)
