"""Issue 15 §1: e-mails are multipart/alternative (plain text + HTML in the
tenant's brand); data-subject request e-mails come in the DPO's name with
replies to the DPO, never as the marketing sender. Asserted on the RAW BYTES
aiosmtpd received, then on the parts as a mail client would split them."""

from __future__ import annotations

import email
import email.header
import email.policy
import re

from messaging.outbox import OutboxWorker
from tenants.branding import contrast
from tests.factories import make_tenant
from tests.messaging.scenes import ask_confirmation
from tests.messaging.smtp import SmtpServer

SENDER = "Optinbase <no-reply@example.org>"
BRAND = {"sender_name": "Acme Marketing", "reply_to": "hello@acme.example",
         "primary_color": "#ff6600", "accent_color": "#00aa88",
         "logo_url": "https://cdn.acme.example/logo.png",
         "footer_text": "Acme SAS, 1 rue de la Paix, Paris"}


def _head(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]


async def _branded(client, **extra) -> object:
    tenant = await make_tenant(name=extra.pop("name", "Acme"))
    answer = await client.patch("/v1/tenant", headers=tenant.headers, json={
        "legal_name": "Acme SAS", "dpo_email": "dpo@acme.example",
        "settings": {**BRAND, "dpo_name": "Claire Martin", **extra}})
    assert answer.status_code == 200, answer.text
    return tenant


async def _received(smtp: SmtpServer, address: str):
    await OutboxWorker(smtp.url, SENDER).run_once()
    [received] = [r for r in smtp.received if r.rcpt_tos == [address]]
    return received


async def _sent(smtp: SmtpServer, address: str) -> bytes:
    return (await _received(smtp, address)).raw


async def test_consent_mail_is_multipart_in_the_tenants_brand(client):
    smtp = SmtpServer().start()
    try:
        tenant = await _branded(client)
        person = await ask_confirmation(client, tenant)
        raw = await _sent(smtp, person["email"])
    finally:
        smtp.stop()
    head = _head(raw)
    assert b"\r\nFrom: Acme Marketing <no-reply@example.org>\r\n" in b"\r\n" + head
    assert b"\r\nReply-To: hello@acme.example\r\n" in head
    assert b"\r\nSender:" not in head  # From is MAIL_FROM's own address
    assert re.search(rb"\r\nContent-Type: multipart/alternative;\s+boundary=", head)
    body = raw.partition(b"\r\n\r\n")[2]
    plain, html_at = body.find(b"Content-Type: text/plain"), body.find(b"Content-Type: text/html")
    assert 0 <= plain < html_at  # the text first, the preferred HTML last (RFC 2046)

    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
    assert f'href="{link}"' in html  # the same link, clickable
    assert 'src="https://cdn.acme.example/logo.png"' in html and 'alt="Acme"' in html
    assert "Acme SAS, 1 rue de la Paix, Paris" in html
    assert "border-top:6px solid #00aa88" in html
    # #ff6600 on white is 2.9:1: links are drawn in a darkened shade that reads (≥ 4.5:1).
    ink = re.search(r'style="color:(#[0-9a-f]{6})', html).group(1)
    assert ink != "#ff6600" and contrast(ink, "#ffffff") >= 4.5


async def test_request_mail_comes_from_the_dpo(client):
    smtp = SmtpServer().start()
    try:
        tenant = await _branded(client)
        answer = await client.post(f"/p/{tenant.slug}/requests",
                                   data={"kind": "access", "email": "ana@example.com"})
        assert answer.status_code == 200, answer.text
        received = await _received(smtp, "ana@example.com")
    finally:
        smtp.stop()
    head = _head(received.raw)
    assert b"\r\nFrom: Claire Martin <dpo@acme.example>\r\n" in b"\r\n" + head
    assert b"\r\nReply-To: dpo@acme.example\r\n" in head
    # Who really sent it (RFC 5322 Sender), and bounces go to the operator's address.
    assert b"\r\nSender: Optinbase <no-reply@example.org>\r\n" in head
    assert received.mail_from == "no-reply@example.org"
    assert b"Acme Marketing" not in head and b"hello@acme.example" not in head
    assert b"multipart/alternative" in head


async def test_a_non_ascii_dpo_name_is_encoded_and_the_address_stays_plain(client):
    smtp = SmtpServer().start()
    try:
        tenant = await _branded(client, dpo_name="Hélène Dupré, DPO")
        answer = await client.post(f"/p/{tenant.slug}/requests",
                                   data={"kind": "erasure", "email": "noe@example.com"})
        assert answer.status_code == 200, answer.text
        head = _head(await _sent(smtp, "noe@example.com"))
    finally:
        smtp.stop()
    sender = re.search(rb"\r\nFrom: (.*?)\r\n(?! )", b"\r\n" + head, re.S).group(1)
    assert sender.startswith(b"=?utf-8?") and sender.endswith(b" <dpo@acme.example>")
    words = sender[: -len(b" <dpo@acme.example>")].replace(b"\r\n", b"").decode()
    decoded = email.header.make_header(email.header.decode_header(words))
    assert str(decoded) == "Hélène Dupré, DPO"


async def test_a_sender_address_setting_is_the_from_and_a_broken_one_is_ignored(client):
    smtp = SmtpServer().start()
    try:
        tenant = await _branded(client, sender="Acme News <news@acme.example>",
                                sender_name="")
        person = await ask_confirmation(client, tenant)
        received = await _received(smtp, person["email"])
        head = _head(received.raw)
        assert b"\r\nFrom: Acme News <news@acme.example>\r\n" in b"\r\n" + head
        assert b"\r\nSender: Optinbase <no-reply@example.org>\r\n" in head
        assert received.mail_from == "no-reply@example.org"
        # A sender that is no address must not make the tenant's mail undeliverable.
        broken = await _branded(client, sender="Acme News <no address>", sender_name="")
        other = await ask_confirmation(client, broken)
        head = _head(await _sent(smtp, other["email"]))
        assert b"\r\nFrom: Acme News <no-reply@example.org>\r\n" in b"\r\n" + head
        assert b"\r\nSender:" not in head
    finally:
        smtp.stop()


async def test_unbranded_tenant_keeps_mail_from_and_markup_is_escaped(client):
    smtp = SmtpServer().start()
    try:
        tenant = await make_tenant(name="<script>alert(1)</script> & Co")
        person = await ask_confirmation(client, tenant)
        raw = await _sent(smtp, person["email"])
    finally:
        smtp.stop()
    head = _head(raw)
    assert raw.startswith(b"From: Optinbase <no-reply@example.org>\r\n")
    assert b"Reply-To" not in head
    html = email.message_from_bytes(raw, policy=email.policy.default).get_body(
        ("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


async def test_branding_settings_refuse_what_could_carry_markup_or_headers(client):
    tenant = await make_tenant()
    for settings in ({"primary_color": "red"}, {"primary_color": "#12345"},
                     {"accent_color": "#fff;background:url(x)"},
                     {"logo_url": "javascript:alert(1)"},
                     {"logo_url": 'https://x.example/a" onerror="alert(1)'},
                     {"reply_to": "a@b.example\r\nBcc: victim@example.com"},
                     {"reply_to": "not an address"},
                     {"sender_name": "Acme\r\nBcc: victim@example.com"},
                     {"policy_url": "javascript:alert(1)"},
                     {"footer_text": "x" * 1001}, {"logo": "https://x.example/l.png"}):
        answer = await client.patch("/v1/tenant", headers=tenant.headers,
                                    json={"settings": settings})
        assert answer.status_code == 422, (settings, answer.text)
    answer = await client.patch("/v1/tenant", headers=tenant.headers,
                                json={"settings": {**BRAND, "primary_color": "#0B4F9C"}})
    assert answer.status_code == 200, answer.text
    shown = (await client.get("/v1/tenant", headers=tenant.headers)).json()["settings"]
    assert {k: shown[k] for k in BRAND} == {**BRAND, "primary_color": "#0B4F9C"}
    cleared = await client.patch("/v1/tenant", headers=tenant.headers,
                                 json={"settings": {"logo_url": "", "reply_to": ""}})
    assert cleared.json()["settings"]["logo_url"] == "" == cleared.json()["settings"]["reply_to"]
