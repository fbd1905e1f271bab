"""Issue 12 §3: a link that travels cannot create consent (consent.journey.link_rules).

The preference and unsubscribe links sit in every e-mail, header and export:
whoever holds one may withdraw at once, but a new grant on a double-opt-in
channel waits for the confirmation e-mail to the contact's address, a new SMS
or phone grant is not offered at all, and every event names the link used.
The unsubscribe page withdraws exactly the link's purpose and channel in one
click, offers "everything" and the way to the preference centre."""

from __future__ import annotations

import asyncio
import html
import re
import uuid

import pytest

from consent import tokens
from optinbase import db
from optinbase.settings import get_settings
from tests.api import conftest as api_conftest
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant
from tests.messaging.scenes import confirmation_tokens

PHONE_NOTE = "cannot be given through this link"


async def _scene(client, double_opt_in: list[str]):
    tenant = await make_tenant()
    if double_opt_in:
        answer = await client.patch("/v1/tenant", headers=tenant.headers, json={
            "settings": {"double_opt_in_channels": double_opt_in, "default_locale": "en"}})
        assert answer.status_code == 200, answer.text
    news = await make_purpose(tenant, key="news")
    await make_purpose(tenant, key="ads")
    notice = await make_notice(tenant, purpose="news", channels=("email", "sms", "phone"),
                               text="News by e-mail, SMS or phone.")
    ads = await make_notice(tenant, purpose="ads", channels=("email",), text="Offers by e-mail.")
    person = await make_contact(tenant, email="owner@example.org", phone="+33612345678",
                                locale="en")
    link = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(person["id"]),
                             uuid.UUID(news["id"]), "email")
    return tenant, person, link, notice, ads


async def _states(client, tenant, person) -> dict:
    answer = await client.get(f"/v1/contacts/{person['id']}/consents", headers=tenant.headers)
    return {(s["purpose"], s["channel"]): s["status"] for s in answer.json()}


async def _events(client, tenant, person) -> list[dict]:
    answer = await client.get(f"/v1/contacts/{person['id']}/consent-events",
                              headers=tenant.headers)
    return answer.json()["items"]


async def _confirmation_links(tenant) -> list[str]:
    return await confirmation_tokens(tenant, "owner@example.org")


def _form(notice, ads, *boxes: str) -> dict:
    return {"consent": list(boxes), "notice.news": notice["id"], "notice.ads": ads["id"]}


async def test_a_new_grant_through_a_link_waits_for_the_confirmation_email(client):
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=["email"])
    page = await client.get(f"/p/preferences/{link}")
    assert page.status_code == 200
    assert 'value="news:email"' in page.text and 'value="ads:email"' in page.text
    assert 'value="news:sms"' not in page.text and 'value="news:phone"' not in page.text
    assert PHONE_NOTE in html.unescape(page.text)
    assert f"/p/{tenant.slug}/subscribe" in page.text

    saved = await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "news:email"),
                              headers={"User-Agent": "Browser/1"})
    assert saved.status_code == 200 and "confirm them there" in html.unescape(saved.text)
    assert await _states(client, tenant, person) == {("news", "email"): "pending"}
    [requested] = await _events(client, tenant, person)
    assert (requested["action"], requested["method"]) == ("requested", "preference_centre")
    assert re.fullmatch(r"preference link news/email, fingerprint [0-9a-f]{16}", requested["source"])
    assert link not in requested["source"]  # the ledger never holds a working link
    assert requested["collected_at"]

    again = await client.get(f"/p/preferences/{link}")  # pending shows ticked: saving keeps it
    assert re.search(r'value="news:email"\s+checked', again.text)
    await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "news:email"))
    assert await _states(client, tenant, person) == {("news", "email"): "pending"}
    assert len(await _events(client, tenant, person)) == 1

    [token] = await _confirmation_links(tenant)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200
    assert await _states(client, tenant, person) == {("news", "email"): "granted"}

    await client.post(f"/p/preferences/{link}", data=_form(notice, ads))  # withdrawal: at once
    assert await _states(client, tenant, person) == {("news", "email"): "withdrawn"}


async def test_without_double_opt_in_a_link_still_only_requests(client):
    """DESIGN: a link "may withdraw but never create consent that the person
    did not confirm" — even where the tenant asks no double opt-in, a grant
    through a link waits for the confirmation e-mail to its address."""
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    page = await client.get(f"/p/preferences/{link}")
    assert "confirm by e-mail" in html.unescape(page.text)
    await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "ads:email"))
    assert await _states(client, tenant, person) == {("ads", "email"): "pending"}
    [requested] = await _events(client, tenant, person)
    assert requested["action"] == "requested" and requested["notice_id"] == ads["id"]
    assert requested["source"].startswith("preference link news/email, fingerprint ")
    [token] = await _confirmation_links(tenant)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200
    assert await _states(client, tenant, person) == {("ads", "email"): "granted"}


async def test_a_contact_without_an_e_mail_address_is_offered_no_new_grant(client):
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    await grant(tenant, person["id"], notice["id"], channel="sms", purpose="news")
    async with db.tenant_transaction(tenant.id):  # a contact known by phone only, e.g. imported
        await db.execute("UPDATE contact SET email = NULL WHERE tenant_id = {} AND id = {}",
                         tenant.id, uuid.UUID(person["id"]))
    page = await client.get(f"/p/preferences/{link}")
    assert re.search(r'value="news:sms"\s+checked', page.text)  # what it holds: withdrawable
    assert not re.search(r'value="(ads|news):email"', page.text)
    await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "news:sms", "ads:email"))
    assert await _states(client, tenant, person) == {("news", "sms"): "granted"}
    await client.post(f"/p/preferences/{link}", data=_form(notice, ads))
    assert await _states(client, tenant, person) == {("news", "sms"): "withdrawn"}


async def test_a_forwarded_link_cannot_grant_sms_or_phone(client):
    """Someone who received the forwarded e-mail posts the boxes the page does
    not show: refused, nothing recorded. What the person holds on SMS (from
    the subscribe form) is shown and can still be withdrawn."""
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    stranger = {"User-Agent": "Stranger/1.0", "Accept-Language": "en"}
    for boxes in (["news:sms"], ["news:phone"], ["news:sms", "news:phone"]):
        forged = await client.post(f"/p/preferences/{link}", headers=stranger,
                                   data=_form(notice, ads, *boxes))
        assert forged.status_code == 200, forged.text  # the page, with nothing granted
        assert not re.search(r'value="news:(sms|phone)"', forged.text)
    assert await _states(client, tenant, person) == {}
    assert await _events(client, tenant, person) == []
    check = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "email": "owner@example.org", "channel": "sms", "purpose": "news"})
    assert check.json()["allowed"] is False

    await grant(tenant, person["id"], notice["id"], channel="sms", purpose="news")
    await grant(tenant, person["id"], ads["id"], channel="email", purpose="ads")
    page = await client.get(f"/p/preferences/{link}")
    assert re.search(r'value="news:sms"\s+checked', page.text)
    # A forged SMS box beside a withdrawal: the withdrawal counts, the box records nothing.
    await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "news:phone"))
    assert await _states(client, tenant, person) == {
        ("news", "sms"): "withdrawn", ("ads", "email"): "withdrawn"}
    again = await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "news:sms"))
    assert again.status_code == 200
    assert await _states(client, tenant, person) == {
        ("news", "sms"): "withdrawn", ("ads", "email"): "withdrawn"}


async def test_a_one_click_withdrawal_holds_the_ledger_head_for_few_statements(client):
    """Every statement between the head's lock and the commit delays the
    tenant's other writers (an import's next chunk among them). On
    PostgreSQL the lock takes the change feed's numbers, the event moves
    the head, and one statement projects it onto the state and the contact
    (the status it leaves): seven round trips with the feed, the webhook
    endpoints and the page's purposes, where there were eleven."""
    if not db.is_postgres() or db.is_citus():
        pytest.skip("SQLite's write transaction holds the whole file; Citus keeps a statement"
                    " a table")
    tenant, person, link, notice, _ = await _scene(client, double_opt_in=[])
    await grant(tenant, person["id"], notice["id"], channel="email", purpose="news")
    await asyncio.sleep(0)  # (asyncpg hands logged statements over with call_soon)
    api_conftest._sent.clear()
    one_click = await client.post(f"/p/unsubscribe/{link}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    await asyncio.sleep(0)
    sent = [" ".join(sql.split()) for sql, _ in api_conftest._sent]
    locked = next(i for i, sql in enumerate(sent) if sql.startswith("UPDATE ledger_head"))
    held = sent[locked:sent.index("COMMIT", locked)]
    assert [sql for sql in held if "ledger_head" in sql] == [held[0], held[1]]
    assert "INSERT INTO consent_event" in held[1]
    assert [sql for sql in held if "consent_state" in sql or "UPDATE contact" in sql] == [held[2]]
    assert len(held) == 7, held
    assert await _states(client, tenant, person) == {("news", "email"): "withdrawn"}


async def test_one_click_withdraws_exactly_the_links_consent_and_the_page_offers_more(client):
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    for channel, purpose, notice_id in (("email", "news", notice["id"]),
                                        ("sms", "news", notice["id"]),
                                        ("email", "ads", ads["id"])):
        await grant(tenant, person["id"], notice_id, channel=channel, purpose=purpose)
    page = await client.get(f"/p/unsubscribe/{link}")
    assert page.status_code == 200
    assert 'name="everything"' in page.text and 'List-Unsubscribe' in page.text
    assert f"/p/preferences/{link}" in page.text

    one_click = await client.post(f"/p/unsubscribe/{link}",
                                  data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert await _states(client, tenant, person) == {
        ("news", "email"): "withdrawn", ("news", "sms"): "granted", ("ads", "email"): "granted"}
    withdrawal = (await _events(client, tenant, person))[-1]
    assert withdrawal["method"] == "one_click_unsubscribe"
    assert withdrawal["source"].startswith("unsubscribe link news/email, fingerprint ")

    everything = await client.post(f"/p/unsubscribe/{link}", headers={"Accept-Language": "en"},
                                   data={"List-Unsubscribe": "One-Click", "everything": "1"})
    assert everything.status_code == 200
    assert "nothing more" in html.unescape(everything.text)
    assert set((await _states(client, tenant, person)).values()) == {"withdrawn"}
    assert len(await _events(client, tenant, person)) == 3 + 1 + 2


async def test_another_tenants_link_is_not_a_link_here(client):
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    other = await make_tenant()
    forged = tokens.make_token(get_settings().secret_key, other.id, uuid.UUID(person["id"]),
                               uuid.uuid4(), "email")
    assert (await client.post(f"/p/preferences/{forged}",
                               data=_form(notice, ads, "news:email"))).status_code == 404
    assert (await client.post(f"/p/unsubscribe/{forged}",
                              data={"everything": "1"})).status_code == 404
    assert await _events(client, tenant, person) == []


async def test_a_link_offers_no_grant_on_a_suppressed_channel(client):
    tenant, person, link, notice, ads = await _scene(client, double_opt_in=[])
    listed = await client.post("/v1/suppressions", headers=tenant.headers, json={
        "email": "owner@example.org", "channel": "email", "reason": "complaint"})
    assert listed.status_code == 201
    page = await client.get(f"/p/preferences/{link}")
    assert 'value="news:email"' not in page.text and 'value="ads:email"' not in page.text
    forged = await client.post(f"/p/preferences/{link}", data=_form(notice, ads, "ads:email"))
    assert forged.status_code == 200
    assert await _events(client, tenant, person) == []
