"""A re-permission campaign end to end: a real server process and a real SMTP
server. Staff find who agreed to the old notice (segment on notice_version),
start a campaign; Anne's e-mail arrives, its link shows the new notice with
its partner, her button records `granted` under version 2; the campaign's
progress says so; Bruno, who did not answer, keeps his old consent until the
tenant requires re-consent from a date."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from tests import processes
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant, unique_slug


@pytest.fixture
async def acme(engine: str):
    tenant = await make_tenant(slug=unique_slug("acme"), name="Acme SAS", country="FR")
    await make_purpose(tenant, "news", name="Les nouvelles")
    v1 = await make_notice(tenant, "news", ("email",), language="fr",
                           text="J'accepte de recevoir les nouvelles d'Acme.")
    people = []
    for name in ("anne", "bruno"):
        person = await make_contact(tenant, email=f"{unique_slug(name)}@example.org",
                                    locale="fr-FR")
        await grant(tenant, person["id"], v1["id"], purpose="news")
        people.append(person)
    v2 = await make_notice(tenant, "news", ("email",), language="fr", partners=["Globex"],
                           text="J'accepte de recevoir les nouvelles d'Acme et de Globex.")
    return tenant, v1, v2, people


def test_campaign_from_segment_to_confirmation(installation, smtp, acme):
    tenant, v1, v2, (anne, bruno) = acme
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        public = processes.http(base_url=server.base_url, timeout=10)
        segment = api.post("/v1/segments", json={"name": "before v2", "rules": {
            "type": "consent", "channel": "email", "purpose": "news",
            "notice_version": {"lt": 2}}}).json()
        count = api.get(f"/v1/segments/{segment['id']}/count",
                        params={"channel": "email", "purpose": "news"}).json()
        assert count["count"] == 2

        campaign = api.post("/v1/reconsent-campaigns", json={
            "name": "Globex", "segment_id": segment["id"], "purpose": "news",
            "notice_id": v2["id"]})
        assert campaign.status_code == 201, campaign.text
        campaign = campaign.json()
        assert (campaign["sent"], campaign["confirmed"], campaign["pending"]) == (2, 0, 2)

        mail = smtp.mail_to(anne["email"])[0]  # delivered by the server's worker
        assert mail["Content-Language"] == "fr"
        assert "Acme SAS" in mail["Subject"]
        link = re.search(r"(http://\S+/p/reconsent/\S+)", mail.get_content()).group(1)

        page = public.get(link)
        text = html.unescape(page.text)
        assert page.status_code == 200 and '<html lang="fr">' in page.text
        assert "J'accepte de recevoir les nouvelles d'Acme et de Globex." in text
        assert "Globex" in text and 'method="post"' in page.text
        assert api.get(f"/v1/reconsent-campaigns/{campaign['id']}").json()["confirmed"] == 0

        confirmed = public.post(link, headers={"User-Agent": "MailReader/3"})
        assert confirmed.status_code == 200
        progress = api.get(f"/v1/reconsent-campaigns/{campaign['id']}").json()
        assert (progress["sent"], progress["confirmed"], progress["pending"]) == (2, 1, 1)
        events = api.get(f"/v1/contacts/{anne['id']}/consent-events").json()["items"]
        assert (events[-1]["action"], events[-1]["notice_id"], events[-1]["user_agent"]) == (
            "granted", v2["id"], "MailReader/3")
        # Bruno did not answer: still allowed under version 1, and still in the segment.
        check = api.get("/v1/consent-check", params={
            "email": bruno["email"], "channel": "email", "purpose": "news"}).json()
        assert check["allowed"] is True
        assert api.get(f"/v1/segments/{segment['id']}/count", params={
            "channel": "email", "purpose": "news"}).json()["count"] == 1

        # The tenant decides: version 1 consents end in a week.
        on = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)).replace(microsecond=0)
        required = api.post(f"/v1/notices/{v2['id']}/require-reconsent",
                            json={"expires_at": on.isoformat()})
        assert required.status_code == 200 and required.json()["affected"] == 1
        states = api.get(f"/v1/contacts/{bruno['id']}/consents").json()
        assert dt.datetime.fromisoformat(states[0]["expires_at"]) == on
        assert api.get("/v1/ledger/verify").json()["ok"] is True
