"""Issue 12 §6 and issue 15 §1 over HTTP, on both engines: every subscriber
page carries the GDPR Art. 13 / CNIL information (controller and address,
DPO, each purpose with its named partners, retention, rights with the
request form, withdrawal, privacy policy, CNIL complaint) in French and
English, in the tenant's brand; values stored some other way than through
the validated settings never reach the page; `GET /` is a landing page and
the style sheet is the app's own."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid

import pytest

from consent.journey import double_opt_in
from consent.requests import links
from optinbase import db, i18n
from optinbase.settings import get_settings
from tests.factories import as_owner, make_notice, make_purpose, make_tenant, set_tenant
from tests.messaging.scenes import outbox

PARTNERS = ["Brevo SAS", "Régie Publicitaire Ouest"]


async def _shop():
    tenant = await make_tenant(name="Acme")
    await set_tenant(tenant, legal_name="Acme SAS", dpo_email="dpo@acme.example", settings={
        "address": "12 rue des Lilas, 75011 Paris", "dpo_name": "Claire Martin",
        "policy_url": "https://acme.example/privacy", "retention_months": 24,
        "primary_color": "#c2410c", "footer_text": "Acme SAS, RCS Paris 123 456 789"})
    await make_purpose(tenant, "letter", name="Lettre")
    notice = await make_notice(tenant, "letter", ("email",), language="fr",
                               text="Je veux la lettre.", partners=PARTNERS)
    return tenant, notice


def _informs(page, language: str) -> None:
    text = html.unescape(page.text)
    texts = i18n.texts(language)
    assert f'<html lang="{language}">' in page.text
    for needle in ("Acme SAS", "12 rue des Lilas, 75011 Paris", "Claire Martin",
                   "dpo@acme.example", ", ".join(PARTNERS), 'href="https://www.cnil.fr/fr/plaintes"',
                   'href="https://acme.example/privacy"', texts("legal.withdraw"),
                   texts("legal.retention", months=24), texts("legal.rights"),
                   "Acme SAS, RCS Paris 123 456 789", "--primary: #c2410c"):
        assert needle in text, (needle, language)
    assert re.search(r'href="/p/[a-z0-9-]+/requests"', page.text)


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_every_subscriber_page_tells_what_article_13_requires(client, language):
    tenant, notice = await _shop()
    accept = {"Accept-Language": language}
    form = await client.get(f"/p/{tenant.slug}/subscribe", headers=accept)
    _informs(form, language)
    _informs(await client.get(f"/p/{tenant.slug}/requests", headers=accept), language)
    sent = await client.post(f"/p/{tenant.slug}/subscribe", headers=accept, data={
        "email": "zoe@example.org", "consent": "letter:email", "notice.letter": notice["id"]})
    assert sent.status_code == 200, sent.text
    _informs(sent, language)
    [mail] = [r for r in await outbox(tenant) if r["recipient"] == "zoe@example.org"]
    payload = json.loads(mail["payload"]) if isinstance(mail["payload"], str) else mail["payload"]
    for pattern in (r"/p/confirm/\S+", r"/p/preferences/\S+"):
        path = re.search(pattern, payload["text"]).group(0)
        _informs(await client.get(path), language)  # the person's (the form's) language
    unsubscribe = re.search(r"/p/unsubscribe/[^>]+", payload["headers"]["List-Unsubscribe"])
    _informs(await client.get(unsubscribe.group(0)), language)
    # The re-permission ("stay") page of the same person.
    keep = links.make(get_settings().secret_key, "keep", tenant.id, mail["contact_id"],
                      dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    _informs(await client.get(f"/p/keep/{keep}"), language)
    # A dead end names the tenant's next steps, in the browser's language.
    gone = await client.get("/p/confirm/" + "A" * 40, headers=accept)
    assert gone.status_code == 404
    assert i18n.texts(language)("next.no_tenant") in html.unescape(gone.text)
    tampered = re.search(r"/p/preferences/\S+", payload["text"]).group(0)[:-4] + "AAAA"
    answer = await client.get(tampered, headers=accept)
    assert answer.status_code == 404


async def test_forged_stored_values_never_reach_the_page(client):
    tenant, _ = await _shop()
    async with as_owner():  # written around the validation, as an intruder in the database would
        await db.execute(
            "UPDATE tenant SET settings = {} WHERE id = {}", json.dumps({
                "primary_color": "red;}</style><script>alert(1)</script>",
                "accent_color": "#12", "logo_url": "javascript:alert(1)",
                "policy_url": "javascript:alert(2)", "footer_text": "<b>bold</b>"}), tenant.id)
    page = await client.get(f"/p/{tenant.slug}/subscribe")
    assert page.status_code == 200
    assert "<script>" not in page.text and "javascript:" not in page.text
    assert "--primary: #0b4f9c" in page.text  # the designed default instead
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text


async def test_landing_page_and_the_apps_own_stylesheet(client):
    page = await client.get("/", headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text
    for link in ('href="/schema"', 'href="/admin/"', 'href="/health"'):
        assert link in page.text
    assert i18n.texts("fr")("landing.intro") in html.unescape(page.text)
    css = await client.get("/static/pages.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text and "url(" not in css.text  # no font, no CDN
    assert 'href="/static/pages.css"' in page.text and "fonts.googleapis" not in page.text
    assert (await client.get("/static/../rendering.py")).status_code == 404
    assert (await client.get("/static/nothing.css")).status_code == 404


async def test_dead_ends_offer_the_next_step(client):
    tenant, notice = await _shop()
    sent = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"},
                             data={"email": "lea@example.org", "consent": "letter:email",
                                   "notice.letter": notice["id"]})
    assert sent.status_code == 200
    [mail] = [r for r in await outbox(tenant) if r["recipient"] == "lea@example.org"]
    payload = json.loads(mail["payload"]) if isinstance(mail["payload"], str) else mail["payload"]
    secret = get_settings().secret_key
    real = double_opt_in.read_token(secret, re.search(r"/p/confirm/(\S+)", payload["text"]).group(1))
    expired = double_opt_in.make_token(secret, real.tenant_id, real.event_id,
                                       dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    page = await client.get(f"/p/confirm/{expired}")
    assert page.status_code == 410 and "<form" not in page.text
    text = html.unescape(page.text)
    assert i18n.texts("en")("next.subscribe_again") in text  # the person's language
    assert f'href="/p/{tenant.slug}/subscribe"' in page.text
    # A link of this tenant to nothing: its forms are the way on.
    unknown = double_opt_in.make_token(secret, tenant.id, uuid.uuid4(), real.expires_at)
    missing = await client.get(f"/p/confirm/{unknown}", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404
    assert f'href="/p/{tenant.slug}/subscribe"' in missing.text
    assert f'href="/p/{tenant.slug}/requests"' in missing.text
    assert i18n.texts("fr")("next.error_intro") in html.unescape(missing.text)


async def test_the_logo_origin_alone_joins_the_pages_image_policy(client):
    tenant, _ = await _shop()
    plain = await client.get(f"/p/{tenant.slug}/subscribe")
    img = next(p for p in plain.headers["content-security-policy"].split(";")
               if p.strip().startswith("img-src"))
    assert img.split() == ["img-src", "'self'", "data:"]
    await set_tenant(tenant, settings={"logo_url": "https://cdn.acme.example:8443/brand/logo.svg"})
    branded = await client.get(f"/p/{tenant.slug}/subscribe")
    policy = branded.headers["content-security-policy"]
    img = next(p for p in policy.split(";") if p.strip().startswith("img-src"))
    assert img.split() == ["img-src", "'self'", "data:", "https://cdn.acme.example:8443"]
    assert "cdn.acme.example" not in policy.replace(img, "")  # images only
    # Text that merely looks like an image in the page (escaped) adds nothing.
    await set_tenant(tenant, settings={"footer_text": '<img src="https://evil.example/x">'})
    page = await client.get(f"/p/{tenant.slug}/subscribe")
    assert "evil.example" not in page.headers["content-security-policy"]
