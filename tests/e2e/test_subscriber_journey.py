"""The subscriber's journey end to end: a real server process, a real SMTP
server, the link from the e-mail, the button, the one-click unsubscribe from the
e-mail's List-Unsubscribe header — and the ledger holding each step's proof."""

from __future__ import annotations

import html
import re

import pytest

from tests import processes
from tests.factories import make_contact, make_notice, make_purpose, make_tenant, unique_slug

@pytest.fixture
async def acme(engine: str):
    """A tenant with a purpose, its notice in French and Anne (tests/factories.py)."""
    tenant = await make_tenant(slug=unique_slug("acme"), name="Acme SAS", country="FR")
    await make_purpose(tenant, "news", name="Les nouvelles")
    notice = await make_notice(tenant, "news", ("email",), language="fr",
                               text="J'accepte de recevoir les nouvelles d'Acme par e-mail.")
    contact = await make_contact(tenant, email=f"{unique_slug('anne')}@example.org",
                                 locale="fr-FR")
    return tenant, notice, contact


def test_double_opt_in_then_one_click_unsubscribe(installation, smtp, acme):
    tenant, notice, contact = acme
    anne = contact["email"]
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        public = processes.http(base_url=server.base_url, timeout=10)
        requested = api.post(f"/v1/contacts/{contact['id']}/consents", json={
            "channel": "email", "purpose": "news", "action": "grant", "method": "web_form",
            "notice_id": notice["id"], "double_opt_in": True, "ip": "203.0.113.10",
            "user_agent": "FormBrowser/1"})
        assert requested.status_code == 201 and requested.json()["status"] == "pending"

        mail = smtp.mail_to(anne)[0]  # delivered by the server's in-process worker
        assert mail["To"] == anne
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Anne's language (fr-FR), Paris time, French elision: "d'Acme SAS".
        assert mail["Subject"] == "Confirmez votre inscription — Acme SAS"
        assert mail["Content-Language"] == "fr"
        text = mail.get_content()
        assert "Vous avez demandé à recevoir d'Acme SAS : Les nouvelles (e-mail)." in text
        assert "(heure de Paris)." in text and " UTC" not in text
        link = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
        unsubscribe = re.search(r"<([^>]+)>", mail["List-Unsubscribe"]).group(1)

        page = public.get(link, headers={"Accept-Language": "en"})  # Anne's language wins
        assert page.status_code == 200 and '<html lang="fr">' in page.text
        assert "« Les nouvelles » d'Acme SAS par e-mail" in html.unescape(page.text)
        assert "J'accepte de recevoir les nouvelles d'Acme par e-mail." in html.unescape(page.text)

        def check() -> dict:
            return api.get("/v1/consent-check", params={
                "email": anne, "channel": "email", "purpose": "news"}).json()

        assert check()["status"] == "pending"
        confirmed = public.post(link, headers={"User-Agent": "MailReader/2"})
        assert confirmed.status_code == 200
        assert check()["allowed"] is True

        one_click = public.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert one_click.status_code == 200
        assert check()["allowed"] is False

        events = api.get(f"/v1/contacts/{contact['id']}/consent-events").json()["items"]
        assert [(e["action"], e["method"]) for e in events] == [
            ("requested", "web_form"), ("confirmed", "double_opt_in"),
            ("withdrawn", "one_click_unsubscribe")]
        assert events[0]["ip"] == "203.0.113.10"
        assert events[1]["user_agent"] == "MailReader/2" and events[1]["ip"] == "127.0.0.1"
        assert events[2]["ip"] == "127.0.0.1"
        assert api.get("/v1/ledger/verify").json()["ok"] is True
