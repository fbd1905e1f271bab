"""Issue 12 §5: what the person sees is what is recorded.

* The confirm page lists every consent its one click confirms (purpose,
  channel, notice version), before and after the click.
* A purpose with notices in two languages: each language's form offers and
  accepts its own current notice; a superseded notice is refused.
* SMS or phone consent without a phone number: 422 in the API, a message next
  to the phone field on the form.
* Suppression wins: an erased (or otherwise listed-for-everything) address
  cannot come back as a contact (refused, 422 naming the field); a listing for
  one channel refuses grants on it; the subscribe form records nothing.
"""

from __future__ import annotations

import html
import json
import re
import uuid

from optinbase import db, limits
from tests.factories import make_contact, make_notice, make_purpose, make_tenant
from tests.messaging.scenes import mails_to

CONFIRM = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")


async def _contacts(client, tenant, email: str) -> list:
    return (await client.get("/v1/contacts", params={"email": email},
                             headers=tenant.headers)).json()["items"]


async def test_the_confirm_page_lists_every_consent_its_click_confirms(client):
    limits.forget()
    tenant = await make_tenant()
    await make_purpose(tenant, key="news", name="The news")
    await make_purpose(tenant, key="ads", name="Offers")
    await make_notice(tenant, purpose="news", channels=("email", "sms"), text="News v1.")
    news = await make_notice(tenant, purpose="news", channels=("email", "sms"), text="News v2.")
    ads = await make_notice(tenant, purpose="ads", channels=("email",), text="Offers v1.")
    answer = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"},
                               data={"email": "three@example.org", "phone": "+33612345678",
                                     "consent": ["news:email", "news:sms", "ads:email"],
                                     "notice.news": news["id"], "notice.ads": ads["id"]})
    assert answer.status_code == 200, answer.text
    [mail] = await mails_to(tenant, "three@example.org")
    token = CONFIRM.search(mail["text"]).group(1)

    page = await client.get(f"/p/confirm/{token}", headers={"Accept-Language": "en"})
    listed = re.findall(r"<li>(.*?)\s*(?:<blockquote|</li>)", html.unescape(page.text), re.S)
    assert listed == ["“The news” by e-mail (text version 2)", "“The news” by SMS (text version 2)",
                      "“Offers” by e-mail (text version 1)"], page.text
    assert "News v2." in page.text and "Offers v1." in page.text and "News v1." not in page.text
    assert "You asked to hear from Tenant in the ways listed below." in html.unescape(
        page.text)  # not one consent named as if it were the only one
    assert "You asked to receive" not in html.unescape(page.text)
    as_json = (await client.get(f"/p/confirm/{token}",
                                headers={"Accept": "application/json"})).json()
    assert [(c["purpose"], c["channel"], c["notice_version"]) for c in as_json["consents"]] == [
        ("The news", "email", 2), ("The news", "sms", 2), ("Offers", "email", 1)]

    done = await client.post(f"/p/confirm/{token}", headers={"Accept-Language": "en"})
    assert done.status_code == 200 and html.unescape(done.text).count("<li>") == 3
    [contact] = await _contacts(client, tenant, "three@example.org")
    states = (await client.get(f"/v1/contacts/{contact['id']}/consents",
                               headers=tenant.headers)).json()
    assert sorted((s["purpose"], s["channel"], s["status"]) for s in states) == [
        ("ads", "email", "granted"), ("news", "email", "granted"), ("news", "sms", "granted")]


async def test_each_languages_form_offers_and_accepts_its_own_notice(client):
    limits.forget()
    tenant = await make_tenant()
    await make_purpose(tenant, key="news")
    stale = await make_notice(tenant, purpose="news", channels=("email",), language="en",
                              text="Old English text.")
    english = await make_notice(tenant, purpose="news", channels=("email",), language="en",
                                text="The news, in English.")
    french = await make_notice(tenant, purpose="news", channels=("email",), language="fr",
                               text="Les nouvelles, en français.")
    for language, notice, other in (("en", english, french), ("fr", french, english)):
        form = await client.get(f"/p/{tenant.slug}/subscribe",
                                headers={"Accept-Language": language})
        assert f'value="{notice["id"]}"' in form.text and other["text"] not in form.text
        sent = await client.post(f"/p/{tenant.slug}/subscribe",
                                 headers={"Accept-Language": language},
                                 data={"email": f"{language}@example.org", "consent": ["news:email"],
                                       "notice.news": notice["id"]})
        assert sent.status_code == 200, (language, sent.text)
        [mail] = await mails_to(tenant, f"{language}@example.org")
        token = CONFIRM.search(mail["text"]).group(1)
        shown = (await client.get(f"/p/confirm/{token}",
                                  headers={"Accept": "application/json"})).json()
        assert [c["notice_language"] for c in shown["consents"]] == [language]
    refused = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"},
                                data={"email": "stale@example.org", "consent": ["news:email"],
                                      "notice.news": stale["id"]})
    assert refused.status_code == 422
    assert await _contacts(client, tenant, "stale@example.org") == []


async def test_sms_or_phone_consent_needs_a_phone_number(client):
    limits.forget()
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email", "sms", "phone"))
    person = await make_contact(tenant, email="nophone@example.org")
    for channel in ("sms", "phone"):
        answer = await client.post(f"/v1/contacts/{person['id']}/consents", headers=tenant.headers,
                                   json={"channel": channel, "purpose": "newsletter",
                                         "action": "grant", "method": "api",
                                         "notice_id": notice["id"]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "channel"
        withdrawn = await client.post(f"/v1/contacts/{person['id']}/consents",
                                      headers=tenant.headers,
                                      json={"channel": channel, "purpose": "newsletter",
                                            "action": "withdraw", "method": "api"})
        assert withdrawn.status_code == 201  # withdrawing never needs anything
    states = (await client.get(f"/v1/contacts/{person['id']}/consents",
                               headers=tenant.headers)).json()
    assert {s["status"] for s in states} == {"withdrawn"}

    page = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"},
                             data={"email": "form@example.org", "consent": ["newsletter:sms"],
                                   "notice.newsletter": notice["id"]})
    assert page.status_code == 422
    assert re.search(r'id="phone"[^>]*aria-describedby="phone-error"', page.text, re.S)
    assert ('<span class="field-error" id="phone-error">Please enter your mobile number'
            in html.unescape(page.text))
    as_json = await client.post(f"/p/{tenant.slug}/subscribe",
                                headers={"Accept": "application/json"}, json={
        "email": "json@example.org", "consents": [
            {"channel": "phone", "purpose": "newsletter", "notice_id": notice["id"]}]})
    assert as_json.status_code == 422 and as_json.json()["errors"][0]["field"] == "phone"
    for email in ("form@example.org", "json@example.org"):
        assert await _contacts(client, tenant, email) == []


async def test_suppression_wins_over_a_new_contact(client):
    limits.forget()
    tenant = await make_tenant()
    h = tenant.headers
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email", "sms"))
    erased = await make_contact(tenant, email="gone@example.org", phone="+33612345670")
    assert (await client.delete(f"/v1/contacts/{erased['id']}", headers=h)).status_code == 204

    for body, field in (({"email": "GONE@example.org"}, "email"),
                        ({"phone": "06 12 34 56 70"}, "phone"),
                        ({"email": "new@example.org", "phone": "+33612345670"}, "phone")):
        again = await client.post("/v1/contacts", json=body, headers=h)
        assert again.status_code == 422, again.text
        assert again.json()["errors"][0]["field"] == field
        assert "suppression list" in again.json()["detail"]
    other = await make_contact(tenant, email="other@example.org")
    patched = await client.patch(f"/v1/contacts/{other['id']}", json={"email": "gone@example.org"},
                                 headers=h)
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == "email"

    # Listed for SMS only: the contact may exist, an SMS grant may not.
    listed = await client.post("/v1/suppressions", headers=h, json={
        "phone": "+33612345671", "channel": "sms", "reason": "complaint"})
    assert listed.status_code == 201
    person = await client.post("/v1/contacts", headers=h, json={
        "email": "smsless@example.org", "phone": "+33612345671"})
    assert person.status_code == 201, person.text
    sms = await client.post(f"/v1/contacts/{person.json()['id']}/consents", headers=h, json={
        "channel": "sms", "purpose": "newsletter", "action": "grant", "method": "api",
        "notice_id": notice["id"]})
    assert sms.status_code == 422

    # The public form answers as for anyone, and records nothing.
    form = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"},
                             data={"email": "gone@example.org", "consent": ["newsletter:email"],
                                   "notice.newsletter": notice["id"]})
    assert form.status_code == 200 and "Open the e-mail" in form.text
    assert await _contacts(client, tenant, "gone@example.org") == []
    assert await mails_to(tenant, "gone@example.org") == []


async def test_an_import_refuses_sms_or_phone_consent_without_a_phone(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = (await make_notice(tenant, channels=("email", "sms", "phone")))["id"]
    await make_contact(tenant, email="stored@example.org", phone="+33612345699")
    when = "2026-11-01T10:00:00Z"
    body = (
        "email,phone,consent_channel,consent_purpose,notice_id,collected_at\n"
        f"nophone@example.org,,sms,newsletter,{notice},{when}\n"          # 2: rejected
        f"nophone2@example.org,,phone,newsletter,{notice},{when}\n"       # 3: rejected
        f"given@example.org,+33612345698,email,newsletter,{notice},{when}\n"
        f"given@example.org,,sms,newsletter,{notice},{when}\n"            # 5: an earlier row's phone
        f"stored@example.org,,sms,newsletter,{notice},{when}\n"           # 6: the stored phone
    )
    job = await client.post("/v1/imports", content=body.encode(),
                            headers={**tenant.headers, "Content-Type": "text/csv"})
    assert job.status_code == 202, job.text
    report = (await client.get(f"/v1/imports/{job.json()['id']}", headers=tenant.headers)).json()
    assert report["rejected"] == 2, report
    assert sorted((e["line"], e["column"]) for e in report["errors"]) == [
        (2, "consent_channel"), (3, "consent_channel")]
    assert all("phone number" in e["reason"] for e in report["errors"])
    assert await _contacts(client, tenant, "nophone@example.org") == []
    for email in ("given@example.org", "stored@example.org"):
        [person] = await _contacts(client, tenant, email)
        states = (await client.get(f"/v1/contacts/{person['id']}/consents",
                                   headers=tenant.headers)).json()
        assert ("sms", "granted") in {(s["channel"], s["status"]) for s in states}


async def test_a_page_address_is_kept_without_its_query_string(client):
    """§2: wherever a URL becomes a source, its query and fragment (where forms
    put `?email=…`) are not stored: the contact's source and a ledger event's."""
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    page = "https://shop.example/Join/?email=anne%40example.org&n=Anne#top"
    contact = await client.post("/v1/contacts", headers=tenant.headers, json={
        "email": "anne@example.org", "source": page})
    assert contact.status_code == 201 and contact.json()["source"] == "https://shop.example/Join/"
    event = await client.post(f"/v1/contacts/{contact.json()['id']}/consents",
                              headers=tenant.headers, json={
                                  "channel": "email", "purpose": "newsletter", "action": "grant",
                                  "method": "web_form", "notice_id": notice["id"],
                                  "source": page})
    assert event.status_code == 201 and event.json()["source"] == "https://shop.example/Join/"
    free = await client.post(f"/v1/contacts/{contact.json()['id']}/consents",
                             headers=tenant.headers, json={
                                 "channel": "email", "purpose": "newsletter",
                                 "action": "withdraw", "method": "phone_call",
                                 "source": "call centre, ticket #12?"})
    assert free.json()["source"] == "call centre, ticket #12?"  # not a URL: kept as written
    for given, kept in (("https://anne:secret@shop.example/p?x=1", "https://shop.example/p"),
                        ("https://[::1/p?email=anne%40example.org", "https://[::1/p")):
        contact = await client.post("/v1/contacts", headers=tenant.headers, json={
            "email": f"{uuid.uuid4().hex[:8]}@example.org", "source": given})
        assert contact.status_code == 201 and contact.json()["source"] == kept


async def test_the_phone_an_sms_consent_names_cannot_be_removed(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    person = await make_contact(tenant, email="keep@example.org", phone="+33612345603")
    h = tenant.headers

    async def consent(action: str) -> None:
        answer = await client.post(f"/v1/contacts/{person['id']}/consents", headers=h, json={
            "channel": "sms", "purpose": "newsletter", "action": action, "method": "api",
            **({"notice_id": notice["id"]} if action == "grant" else {})})
        assert answer.status_code == 201, answer.text

    await consent("grant")
    refused = await client.patch(f"/v1/contacts/{person['id']}", headers=h, json={"phone": None})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "phone"
    check = await client.get("/v1/consent-check", headers=h, params={
        "contact_id": person["id"], "channel": "sms", "purpose": "newsletter"})
    assert check.json()["allowed"] is True  # still true of a number still on file
    changed = await client.patch(f"/v1/contacts/{person['id']}", headers=h,
                                 json={"phone": "+33612345604"})
    assert changed.status_code == 200  # another number is a change, not a removal
    await consent("withdraw")
    cleared = await client.patch(f"/v1/contacts/{person['id']}", headers=h, json={"phone": None})
    assert cleared.status_code == 200 and cleared.json()["phone"] is None


async def test_an_old_sms_consent_without_a_phone_is_not_exported(client):
    """Consent recorded before the refusal (written here past the API) stays in
    the ledger but leaves no row with an empty phone in an SMS audience."""
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    with_phone = await make_contact(tenant, email="a@example.org", phone="+33612345601")
    without = await make_contact(tenant, email="b@example.org", phone="+33612345602")
    for person in (with_phone, without):
        granted = await client.post(f"/v1/contacts/{person['id']}/consents",
                                    headers=tenant.headers, json={
                                        "channel": "sms", "purpose": "newsletter",
                                        "action": "grant", "method": "api",
                                        "notice_id": notice["id"]})
        assert granted.status_code == 201
    refused = await client.patch(f"/v1/contacts/{without['id']}", headers=tenant.headers,
                                 json={"phone": None})  # the API keeps the number a consent names
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "phone"
    async with db.tenant_transaction(tenant.id):  # as data from before that rule would be
        await db.execute("UPDATE contact SET phone = NULL WHERE tenant_id = {} AND id = {}",
                         tenant.id, uuid.UUID(without["id"]))
    segment = (await client.post("/v1/segments", headers=tenant.headers, json={
        "name": "all", "rules": {"type": "all", "rules": []}})).json()
    where = {"channel": "sms", "purpose": "newsletter"}
    count = await client.get(f"/v1/segments/{segment['id']}/count", params=where,
                             headers=tenant.headers)
    assert count.json()["count"] == 1
    export = await client.get(f"/v1/segments/{segment['id']}/export",
                              params={**where, "format": "ndjson"}, headers=tenant.headers)
    assert [json.loads(r)["id"] for r in export.text.splitlines()] == [with_phone["id"]]
