"""The admin's own pages on both engines, their figures asserted as numbers: the
dashboard (opt-ins and withdrawals per channel with bulk imports apart, double
opt-in rate, requests open / overdue), the agency overview (per tenant), the
contact search and a contact's page ("why may we contact this person?"); each
refuses other tenants' ids as if absent, and speaks French to a French browser."""

from __future__ import annotations

import datetime as dt
import json
import re

from admin import stats
from optinbase import db
from tests.admin.scene import make_scene
from tests.admin.staff import login, make_agency, make_staff
from tests.factories import grant, make_contact, make_notice, make_purpose, make_request, \
    make_tenant, record

LINK = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")


async def _confirm_all(client, tenant, emails):
    async with db.tenant_transaction(tenant.id, write=False):
        mails = await db.fetch(
            "SELECT recipient, payload FROM outbox_message WHERE tenant_id = {}", tenant.id)
    for mail in mails:
        if mail["recipient"] in emails:
            payload = mail["payload"]
            payload = json.loads(payload) if isinstance(payload, str) else payload
            token = LINK.search(payload["text"]).group(1)
            assert (await client.post(f"/p/confirm/{token}")).status_code == 200


async def _busy_tenant(client, agency):
    """Email: 3 direct opt-ins, 1 withdrawal, 5 imported, 4 double opt-ins of
    which 3 confirmed; SMS: 2 opt-ins; 2 open requests, 1 overdue."""
    tenant = await make_tenant(name="Busy", agency=agency)
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email", "sms"))
    direct = [await make_contact(tenant, phone=f"+3361234560{i}") for i in range(3)]  # SMS needs one
    for contact in direct:
        await grant(tenant, contact["id"], notice["id"])
    await record(tenant, direct[0]["id"], "withdraw")
    for contact in direct[1:]:
        await grant(tenant, contact["id"], notice["id"], channel="sms")
    for _ in range(5):
        await grant(tenant, (await make_contact(tenant))["id"], notice["id"], method="import")
    pending = [await make_contact(tenant) for _ in range(4)]
    for contact in pending:
        answer = await client.post(
            f"/v1/contacts/{contact['id']}/consents",
            json={"channel": "email", "purpose": "newsletter", "action": "grant",
                  "method": "web_form", "notice_id": notice["id"], "double_opt_in": True},
            headers=tenant.headers)
        assert answer.status_code == 201, answer.text
    await _confirm_all(client, tenant, {c["email"] for c in pending[:3]})
    late = await make_request(tenant, direct[0]["email"], kind="access")
    await make_request(tenant, direct[1]["email"], kind="objection")
    async with db.tenant_transaction(tenant.id):
        await db.execute("UPDATE data_subject_request SET due_at = {} WHERE tenant_id = {}"
                         " AND id = {}", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2),
                         tenant.id, late["id"])
    return tenant


def _attr(html: str, channel: str, name: str) -> int:
    match = re.search(rf'<figure[^>]*data-channel="{channel}"[^>]*data-{name}="(\d+)"', html)
    assert match, (channel, name)
    return int(match.group(1))


async def test_dashboard_and_agency_overview_figures(client):
    agency = await make_agency()
    tenant = await _busy_tenant(client, agency)
    quiet = await make_tenant(name="Quiet", agency=agency)
    outsider = await make_tenant(name="Outsider")

    async with db.tenant_transaction(tenant.id, write=False):
        data = await stats.dashboard(tenant.id)
        summary = await stats.summary(tenant.id)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert data.totals("email") == (6, 1, 5)  # 3 direct + 3 confirmed; imports apart
    assert data.totals("sms") == (2, 0, 0)
    assert data.series["email"][today] == [6, 1] and data.imported["email"][today] == 5
    assert (data.requested, data.confirmed, data.confirmation_rate) == (4, 3, 0.75)
    assert (data.open_requests, data.overdue, data.due_this_week) == (2, 1, 0)
    assert len(data.requests) == 2 and all("@" in r.person for r in data.requests)
    assert summary.consented == {"email": 10, "sms": 2}  # 2 direct + 5 imported + 3 confirmed
    assert (summary.opt_ins, summary.withdrawals) == (13, 1)
    assert (summary.open_requests, summary.overdue_requests) == (2, 1)

    staff = await login(client, await make_staff(agency=agency))
    own = await login(client, await make_staff(tenant=tenant.slug))
    try:
        html = (await staff.http.get("/admin/dashboard/", params={"tenant": str(tenant.id)})).text
        assert (_attr(html, "email", "opt-ins"), _attr(html, "email", "withdrawals"),
                _attr(html, "email", "imported")) == (6, 1, 5)
        assert _attr(html, "sms", "opt-ins") == 2
        assert 'data-requested="4" data-confirmed="3" data-rate="0.7500"' in html
        assert re.search(r'id="open-requests">2<', html) and re.search(
            r'id="overdue-requests">1<', html) and re.search(r'id="due-requests">0<', html)
        assert f'data-day="{today}" data-n="6"' in html  # the day's bar, not the import's

        overview = await staff.http.get("/admin/agency/")
        assert overview.status_code == 200
        rows = dict(re.findall(r'<tr data-tenant="([^"]+)">(.*?)</tr>', overview.text))
        assert set(rows) == {str(tenant.id), str(quiet.id)}  # not the outsider
        busy = rows[str(tenant.id)]
        assert re.search(r'data-channel="email">10<', busy) and re.search(
            r'data-channel="sms">2<', busy)
        assert re.findall(r'data-channel="(\w+)"', busy) == [
            "email", "sms", "phone", "postal", "social_ads", "push"]  # every channel a column
        assert re.search(r'opt-ins">13<', busy) and re.search(r'withdrawals">1<', busy)
        assert re.search(r'open">2<', busy) and re.search(r'overdue no">1<', busy)
        assert re.search(r'opt-ins">0<', rows[str(quiet.id)])
        assert str(outsider.id) not in overview.text

        # Tenant staff: no agency overview, no Tenant/Agency tables; their own dashboard.
        assert (await own.http.get("/admin/agency/")).status_code == 404
        assert "/admin/agency/" not in (await own.get("/links/")).json().values()  # nor its link
        assert "/admin/agency/" in (await staff.get("/links/")).json().values()
        tables = (await own.get("/tables/")).json()
        assert "tenant" not in tables and "agency" not in tables
        assert "tenant" in (await staff.get("/tables/")).json()
        foreign = await own.http.get("/admin/dashboard/", params={"tenant": str(quiet.id)})
        assert "Quiet" not in foreign.text and _attr(foreign.text, "email", "opt-ins") == 6

        french = await own.http.get("/admin/dashboard/", headers={"Accept-Language": "fr"})
        assert "Consentements et retraits par canal" in french.text and 'lang="fr"' in french.text
        assert "admin." not in re.sub(r'href="[^"]*"', "", french.text)
    finally:
        await staff.aclose()
        await own.aclose()


async def test_contact_page_answers_why_we_may_contact_someone(client):
    scene = await make_scene()
    a, b = scene.a, scene.b
    second = await make_notice(a.tenant, channels=("email", "sms"), text="Version two.")
    await grant(a.tenant, a.contact["id"], second["id"], channel="sms")
    await record(a.tenant, a.contact["id"], "withdraw", channel="sms")
    assert (await client.post("/v1/suppressions", json={"email": a.contact["email"],
                                                        "channel": "email", "reason": "complaint"},
                              headers=a.tenant.headers)).status_code == 201
    request = await make_request(a.tenant, a.contact["email"], kind="access")
    mine = await login(client, await make_staff(tenant=a.tenant.slug))
    theirs = await login(client, await make_staff(tenant=b.tenant.slug))
    url = f"/admin/contacts/{a.tenant.id}/{a.contact['id']}/"
    try:
        found = await mine.http.get("/admin/contacts/", params={"q": a.contact["email"].upper()})
        assert found.status_code == 200 and url in found.text
        elsewhere = await mine.http.get("/admin/contacts/", params={"q": b.contact["email"]})
        assert str(b.contact["id"]) not in elsewhere.text and 'p id="contact-results"' in elsewhere.text
        nobody = await theirs.http.get("/admin/contacts/", params={"q": a.contact["email"]})
        assert url not in nobody.text and str(a.contact["id"]) not in nobody.text

        page = await mine.http.get(url)
        assert page.status_code == 200, page.text
        verdicts = dict(re.findall(r'<tr data-channel="(\w+)" data-purpose="newsletter">(.*?)</tr>',
                                   page.text))
        assert 'class="no"' in verdicts["email"] and "on the suppression list" in verdicts["email"]
        assert 'class="no"' in verdicts["sms"] and "withdrawn" in verdicts["sms"]
        history = page.text.split('id="history"')[1].split("</table>")[0]
        assert "v1 (en)" in history and "v2 (en)" in history
        assert history.count("<tr>") == 4  # header + grant + sms grant + withdrawal
        assert "complaint" in page.text and str(request["id"]) in page.text
        assert "NULL" not in page.text and "None" not in page.text

        # Another tenant's contact, through either tenant: as absent.
        for path in (url, f"/admin/contacts/{b.tenant.id}/{a.contact['id']}/",
                     f"/admin/contacts/{a.tenant.id}/not-a-uuid/"):
            refused = await theirs.http.get(path)
            assert refused.status_code == 404 and a.contact["email"] not in refused.text
        french = await mine.http.get(url, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert "Pouvons-nous contacter cette personne" in french.text
    finally:
        await mine.aclose()
        await theirs.aclose()


async def test_contact_search_survives_hostile_input(client):
    scene = await make_scene()
    admin = await login(client, await make_staff(tenant=scene.a.tenant.slug))
    try:
        for q in ("\x00", "a\x00@example.com", "+33\x006", "x" * 5000, "' OR 1=1 --",
                  "%", "@", "+"):
            found = await admin.http.get("/admin/contacts/", params={"q": q})
            assert found.status_code == 200, (q, found.text)
            assert "/admin/contacts/" + str(scene.a.tenant.id) not in found.text
        wild = await admin.http.get("/admin/contacts/", params={"q": "%@example.com"})
        assert str(scene.a.contact["id"]) not in wild.text
    finally:
        await admin.aclose()
