"""Pages and e-mails in French and in English, on both engines: each page and
e-mail speaks the person's language (their locale; the browser's only where
nobody is known yet; else the tenant's default), errors included, with dates
in the tenant's time zone and French elision — all from the catalogues."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from types import SimpleNamespace

import pytest

from consent.requests import links
from optinbase import db, i18n
from optinbase.settings import get_settings
from tests.factories import make_contact, make_notice, make_purpose, make_tenant
from tests.messaging.scenes import outbox
from workers import housekeeping

OTHER = {"fr": "en", "en": "fr"}
CONFIRM = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")
REQUEST_LINK = re.compile(r"/p/requests/(verify|status)/([A-Za-z0-9_-]+)")
KEEP = re.compile(r"/p/keep/([A-Za-z0-9_-]+)")
EN = i18n.texts("en")


def _paris() -> SimpleNamespace:
    """What the pages see of a French tenant: Paris time."""
    return SimpleNamespace(settings={"time_zone": "Europe/Paris"}, country="FR")


def _lang(page) -> str:
    return re.search(r'<html lang="([a-z]+)"', page.text).group(1)


def _text(page) -> str:
    return html.unescape(page.text)


async def _mails(tenant, recipient: str) -> list[dict]:
    return [{"subject": r["subject"], **(json.loads(r["payload"]) if isinstance(r["payload"], str)
                                         else r["payload"])}
            for r in await outbox(tenant) if r["recipient"] == recipient]


async def _acme(client, name: str = "Acme", **settings):
    """A French tenant (default fr, Paris time) with a letter by e-mail or SMS."""
    tenant = await make_tenant(name=name)
    if settings:
        answer = await client.patch("/v1/tenant", json={"settings": settings},
                                    headers=tenant.headers)
        assert answer.status_code == 200, answer.text
    await make_purpose(tenant, "letter", name="Lettre")
    notice = await make_notice(tenant, "letter", ("email", "sms"), language="fr",
                               text="Je veux la lettre.")
    return tenant, notice


async def test_the_subscribe_form_speaks_the_browsers_language_else_the_tenants(client):
    tenant, _ = await _acme(client)
    for header, language in (("en-GB,en;q=0.9", "en"), ("fr-FR", "fr"),
                             ("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", "en"), ("es", "fr"), (None, "fr")):
        page = await client.get(f"/p/{tenant.slug}/subscribe",
                                headers={"Accept-Language": header} if header else {})
        texts = i18n.texts(language)
        assert page.status_code == 200 and _lang(page) == language, header
        for msgid in ("subscribe.title", "subscribe.email_label", "subscribe.button"):
            assert texts(msgid) in _text(page)
            assert i18n.texts(OTHER[language])(msgid) not in _text(page)
        assert "Je veux la lettre." in _text(page)  # the notice as written, in French
        assert texts("consent.by_channel", channel=texts("channel.sms")) in _text(page)


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_form_errors_are_in_the_pages_language_and_the_api_keeps_its_detail(client,
                                                                                  language):
    tenant, notice = await _acme(client)
    texts = i18n.texts(language)
    headers = {"Accept-Language": language}
    for data, msgid in (
        ({"email": "not-an-address", "consent": ["letter:email"]}, "form.email_invalid"),
        ({"email": "anne@example.org"}, "form.choose_a_box"),
        ({"email": "anne@example.org", "consent": ["letter:postal"]}, "form.box_not_offered"),
        ({"email": "anne@example.org", "phone": "12", "consent": ["letter:sms"]},
         "form.phone_invalid"),
    ):
        page = await client.post(f"/p/{tenant.slug}/subscribe", headers=headers,
                                 data={**data, "notice.letter": notice["id"]})
        assert page.status_code == 422 and _lang(page) == language
        assert f'role="alert" id="form-error">{texts(msgid)}<' in _text(page), msgid
        if msgid == "form.phone_invalid":  # and again next to its field
            assert f'id="phone-error">{texts(msgid)}<' in _text(page), msgid
        assert "not a valid" not in page.text and "Expected" not in page.text
    request = await client.post(f"/p/{tenant.slug}/requests", headers=headers,
                                data={"kind": "nonsense", "email": "a@example.org"})
    assert request.status_code == 422 and texts("form.kind_invalid") in _text(request)
    # JSON callers get the API's problem document, in English as before.
    answer = await client.post(f"/p/{tenant.slug}/subscribe",
                               headers={**headers, "Accept": "application/json"},
                               json={"email": "anne@example.org", "consents": []})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "consents: choose at least one box"


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_the_confirmation_email_and_pages_speak_the_persons_language(client, language):
    tenant, notice = await _acme(client)
    texts = i18n.texts(language)
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    done = await client.post(f"/p/{tenant.slug}/subscribe",
                             headers={"Accept-Language": language},
                             data={"email": email, "phone": "+33612345678",
                                   "consent": ["letter:email", "letter:sms"],
                                   "notice.letter": notice["id"]})
    assert done.status_code == 200 and texts("subscribe.check_mail") in _text(done)
    [mail] = await _mails(tenant, email)
    assert mail["headers"]["Content-Language"] == language
    assert mail["subject"] == texts("mail.confirm.subject", tenant="Acme")
    body = mail["text"]
    if language == "fr":
        assert "Vous avez demandé à recevoir d'Acme : Lettre (e-mail), Lettre (SMS)." in body
        assert re.search(r"Ce lien expire le \d+(er)? \w+ 20\d\d à \d\d:\d\d \(heure de Paris\)\.",
                         body), body
    else:
        assert "You asked Acme for: Lettre (e-mail), Lettre (SMS)." in body
        assert re.search(r"The link expires on \w+ \d+, 20\d\d at \d+:\d\d\W[AP]M \(Paris time\)\.",
                         body), body
    assert " UTC" not in body and not re.search(r"\d{4}-\d\d-\d\d", body)

    # The person is known now: their language, whatever the browser says.
    link = f"/p/confirm/{CONFIRM.search(body).group(1)}"
    page = await client.get(link, headers={"Accept-Language": OTHER[language]})
    assert _lang(page) == language
    intro = texts("confirm.intro_many", tenant="Acme")  # two consents: the list names them
    assert intro in _text(page) and ("d'Acme" in intro) == (language == "fr")
    confirmed = await client.post(link, headers={"Accept-Language": OTHER[language]})
    assert texts("confirm.confirmed", purpose="Lettre", tenant="Acme") in _text(confirmed)

    # Nobody is known behind a forged link: the browser's language, the catalogue's words.
    for browser in ("fr", "en"):
        bad = await client.get("/p/confirm/forged-token", headers={"Accept-Language": browser})
        assert bad.status_code == 404 and _lang(bad) == browser
        assert i18n.texts(browser)("error.confirm_link_invalid") in _text(bad)
        assert "this confirmation link is not valid" not in bad.text
    problem = await client.get("/p/confirm/forged-token", headers={"Accept": "application/json"})
    assert problem.json()["detail"] == "this confirmation link is not valid"


async def test_a_time_zone_of_the_tenant_shows_in_the_email(client):
    tenant, notice = await _acme(client, time_zone="America/New_York", default_locale="en")
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    await client.post(f"/p/{tenant.slug}/subscribe", data={
        "email": email, "consent": ["letter:email"], "notice.letter": notice["id"]})
    [mail] = await _mails(tenant, email)
    assert mail["headers"]["Content-Language"] == "en"  # no browser language: the default
    assert "(New York time)." in mail["text"]


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_request_pages_and_emails_speak_the_persons_language(client, language):
    tenant, _ = await _acme(client, name="Hélène Conseil")
    texts = i18n.texts(language)
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    form = await client.get(f"/p/{tenant.slug}/requests", headers={"Accept-Language": language})
    assert _lang(form) == language and texts("request.form.send") in _text(form)
    assert texts("request.kind.portability") in _text(form)
    sent = await client.post(f"/p/{tenant.slug}/requests", headers={"Accept-Language": language},
                             data={"kind": "access", "email": email, "note": ""})
    assert texts("request.form.sent") in _text(sent)
    [mail] = await _mails(tenant, email)
    assert mail["headers"]["Content-Language"] == language
    kind = texts("request.kind.access")
    assert mail["subject"] == texts("mail.request.verify.subject", tenant="Hélène Conseil")
    assert f"({kind})" in mail["text"]
    assert ("(heure de Paris)" if language == "fr" else "(Paris time)") in mail["text"]
    found = {use: token for use, token in REQUEST_LINK.findall(mail["text"])}

    # The verify page: the person's language, whatever the browser says.
    verify = await client.get(f"/p/requests/verify/{found['verify']}",
                              headers={"Accept-Language": OTHER[language]})
    assert _lang(verify) == language
    assert texts("request.verify.intro", kind=kind, tenant="Hélène Conseil") in _text(verify)
    if language == "fr":
        assert "auprès d'Hélène Conseil ?" in _text(verify)  # mute h
    status = await client.get(f"/p/requests/status/{found['status']}")
    assert texts("request.state.unverified") in _text(status)
    today = i18n.texts(language, _paris()).date(dt.datetime.now(dt.timezone.utc))
    assert f"<dd>{today}</dd>" in _text(status)

    # An expired link: the error page about their request is in their language too.
    [request] = (await client.get("/v1/requests", headers=tenant.headers)).json()["items"]
    expired = links.make(get_settings().secret_key, "verify", tenant.id,
                         uuid.UUID(request["id"]), dt.datetime.now(dt.timezone.utc)
                         - dt.timedelta(minutes=1))
    for method in (client.get, client.post):
        gone = await method(f"/p/requests/verify/{expired}",
                            headers={"Accept-Language": OTHER[language]})
        assert gone.status_code == 410 and _lang(gone) == language
        assert texts("error.request_link_expired") in _text(gone)
        assert texts("page.error.title.link") in _text(gone)
    problem = await client.get(f"/p/requests/verify/{expired}",
                               headers={"Accept": "application/json"})
    assert problem.json()["detail"] == "this link has expired; please send your request again"


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_request_outcome_emails_in_the_persons_language(client, language):
    tenant, _ = await _acme(client)
    texts = i18n.texts(language, _paris())
    contact = await make_contact(tenant, locale=language)
    answer = await client.post("/v1/requests", headers=tenant.headers, json={
        "kind": "access", "email": contact["email"], "identity_verified": True,
        "locale": language})
    request = answer.json()
    extended = await client.post(f"/v1/requests/{request['id']}/extend", headers=tenant.headers,
                                 json={"months": 1, "reason": "many systems"})
    due = dt.datetime.fromisoformat(extended.json()["due_at"])
    await client.post(f"/v1/requests/{request['id']}/complete", headers=tenant.headers)
    mails = {m["subject"]: m for m in await _mails(tenant, contact["email"])}
    kind = texts("request.kind.access")
    more_time = mails[texts("mail.request.extended.subject", kind=kind, tenant="Acme")]
    assert f"{texts.date(due)}." in more_time["text"]
    done = mails[texts("mail.request.completed.subject", kind=kind, tenant="Acme")]
    assert texts("request.outcome.package") in done["text"]
    assert all(m["headers"]["Content-Language"] == language for m in mails.values())


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_the_repermission_email_and_page_speak_the_contacts_language(client, language):
    tenant, notice = await _acme(client)
    texts = i18n.texts(language)
    contact = await make_contact(tenant, locale=language)
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=365 * 3 + 40)
    async with db.tenant_transaction(tenant.id):
        await db.execute("UPDATE contact SET last_activity_at = {}, created_at = {}"
                         " WHERE tenant_id = {} AND id = {}", long_ago, long_ago, tenant.id,
                         uuid.UUID(contact["id"]))
    await housekeeping.retention_due(dt.datetime.now(dt.timezone.utc), only=tenant.slug)
    [mail] = await _mails(tenant, contact["email"])
    assert mail["subject"] == texts("mail.keep.subject", tenant="Acme")
    assert mail["headers"]["Content-Language"] == language
    token = KEEP.search(mail["text"]).group(1)
    page = await client.get(f"/p/keep/{token}", headers={"Accept-Language": OTHER[language]})
    assert _lang(page) == language and texts("keep.intro", tenant="Acme") in _text(page)
    if language == "fr":
        assert "Souhaitez-vous qu'Acme garde vos coordonnées" in _text(page)
    expired = links.make(get_settings().secret_key, "keep", tenant.id, uuid.UUID(contact["id"]),
                         dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    gone = await client.get(f"/p/keep/{expired}", headers={"Accept-Language": OTHER[language]})
    assert gone.status_code == 410 and _lang(gone) == language
    assert texts("error.link_expired") in _text(gone)


async def test_the_receipt_email_is_in_the_persons_language(client):
    tenant, notice = await _acme(client, receipt_email=True)
    contact = await make_contact(tenant, locale="en", phone="+33612345678")
    granted = await client.post(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers,
                                json={"channel": "sms", "purpose": "letter", "action": "grant",
                                      "method": "web_form", "notice_id": notice["id"],
                                      "double_opt_in": True})
    assert granted.status_code == 201
    [confirmation] = await _mails(tenant, contact["email"])
    await client.post(f"/p/confirm/{CONFIRM.search(confirmation['text']).group(1)}")
    receipt = [m for m in await _mails(tenant, contact["email"]) if m is not confirmation][-1]
    assert receipt["subject"] == EN("mail.receipt.subject", tenant="Acme")
    assert '- \u201cLettre\u201d (SMS)' in receipt["text"] and "(Paris time)" in receipt["text"]
    assert receipt["headers"]["Content-Language"] == "en"


async def test_the_tenants_time_zone_is_an_iana_name(client):
    french = await make_tenant(country="FR")
    german = await make_tenant(country="DE")
    assert (await client.get("/v1/tenant", headers=french.headers)).json()["settings"][
        "time_zone"] == "Europe/Paris"
    assert (await client.get("/v1/tenant", headers=german.headers)).json()["settings"][
        "time_zone"] == "UTC"
    changed = await client.patch("/v1/tenant", headers=german.headers,
                                 json={"settings": {"time_zone": "Europe/Berlin"}})
    assert changed.status_code == 200 and changed.json()["settings"]["time_zone"] == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../../etc/passwd", "europe/paris", "", "Europe/Paris\n", 1):
        refused = await client.patch("/v1/tenant", headers=german.headers,
                                     json={"settings": {"time_zone": bad}})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/tenant", headers=german.headers)).json()["settings"][
        "time_zone"] == "Europe/Berlin"
