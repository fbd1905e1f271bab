"""Issue 12 §2: erasure leaves nothing — in every field a client or the
person can write.

The person's e-mail, phone and names go into every such field through the
real API and pages: contact fields and attributes, consent sources (a page URL
with `?email=…`, free text), IP and user agent, the subscribe form's own URL,
the confirmation, preference and unsubscribe pages, an import (valid and
rejected rows, with proof columns), data-subject requests (notes, requested
changes, staff's reasons for extending, rejecting and completing, staff's note
on how identity was verified, the public request form), a segment whose rules
and name name the person's e-mail and phone, a suppression, webhook payloads, outbox e-mails (delivered, so
their rows were rewritten), and idempotency replays of every write. Then the
contact is erased, and the whole database — pg_dump, or the SQLite file, WAL
and journal bytes — holds none of it in any case (nor URL-encoded: the
needles are the parts that encoding leaves alone). The ledger still verifies.
"""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import quote

import pytest

from consent import tokens
from messaging.outbox import OutboxWorker
from optinbase import db, limits
from optinbase.settings import get_settings
from tests.consent.dumps import leaks, whole_database
from tests.factories import make_notice, make_purpose, make_tenant
from tests.messaging.scenes import mails_to
from tests.messaging.smtp import SmtpServer

CONFIRM = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


class Person:
    def __init__(self) -> None:
        mark = secrets.token_hex(4)
        self.local = f"Zephy.Erase{mark}"
        self.email = f"{self.local}@Example.ORG"
        self.digits = "612" + "".join(secrets.choice("0123456789") for _ in range(6))
        self.phone = f"+33 {self.digits[0]} {self.digits[1:3]} {self.digits[3:5]}" \
                     f" {self.digits[5:7]} {self.digits[7:]}"
        self.first, self.last = f"Zephyrine{mark}", f"Quetzalcoatl{mark}"
        # Everything at once, as free text: what a client or the person types.
        self.said = f"{self.first} {self.last} <{self.email}> {self.phone}"
        # What must not survive, in any case and encoding: the e-mail's local
        # part, the phone's national digits, both names.
        self.needles = [self.local, self.digits, self.first, self.last]


async def _ok(answer, *codes: int):
    assert answer.status_code in (codes or (200, 201, 202, 204)), answer.text
    return answer.json() if "json" in answer.headers.get("content-type", "") else None


def _idem(h: dict, name: str) -> dict:
    return {**h, "Idempotency-Key": f"{name}-{uuid.uuid4().hex}"}


async def _fill_every_field(client, tenant, person: Person, notice: dict) -> str:
    """Returns the contact's id."""
    h, said = tenant.headers, person.said
    await _ok(await client.post("/v1/webhooks", headers=h, json={
        "url": "https://crm.example/hooks",
        "events": ["consent.changed", "contact.erased", "request.completed"]}))
    contact = await _ok(await client.post("/v1/contacts", headers=_idem(h, "create"), json={
        "email": person.email, "phone": person.phone, "external_id": person.email,
        "first_name": person.first, "last_name": person.last, "source": said,
        "attributes": {"said": said, person.first: person.last}}))
    cid = contact["id"]
    await _ok(await client.patch(f"/v1/contacts/{cid}", headers=_idem(h, "patch"),
                                 json={"attributes": {"again": said}, "gender": person.first}))
    page = f"https://shop.example/join?email={quote(person.email)}&who={person.first}#{person.last}"
    for channel, action, source in (("email", "grant", page), ("sms", "grant", said),
                                    ("postal", "refuse", said)):
        await _ok(await client.post(f"/v1/contacts/{cid}/consents", headers=_idem(h, channel), json={
            "channel": channel, "purpose": "newsletter", "action": action, "method": "api",
            "notice_id": notice["id"] if action == "grant" else None, "source": source,
            "ip": "203.0.113.45", "user_agent": said}))

    # The hosted form, reached with the person's data in its query string.
    limits.forget()
    browser = {"User-Agent": said, "Accept-Language": "en"}
    form = await client.post(
        f"/p/{tenant.slug}/subscribe?email={quote(person.email)}&name={person.first}#{person.last}",
        headers=browser, data={"email": person.email, "phone": person.phone,
                               "consent": ["newsletter:email"], "notice.newsletter": notice["id"]})
    assert form.status_code == 200, form.text
    normalised = contact["email"]
    [token] = [CONFIRM.search(m["text"]).group(1) for m in await mails_to(tenant, normalised)
               if CONFIRM.search(m.get("text", ""))][-1:]
    await _ok(await client.post(f"/p/confirm/{token}", headers=browser))
    secret = get_settings().secret_key
    purpose = (await client.get("/v1/purposes/newsletter", headers=h)).json()["id"]
    link = tokens.make_token(secret, tenant.id, uuid.UUID(cid), uuid.UUID(purpose), "email")
    await _ok(await client.post(f"/p/preferences/{link}", headers=browser, data={
        "consent": ["newsletter:email"], "notice.newsletter": notice["id"]}))
    await _ok(await client.post(f"/p/unsubscribe/{link}", headers=browser,
                                data={"List-Unsubscribe": "One-Click"}))

    # An import: a row that updates the person with proof columns, one rejected.
    csv = ("email,phone,first_name,last_name,birth_year,consent_channel,consent_purpose,"
           "notice_id,collected_at,source,user_agent,ip\n"
           f"{person.email},{person.phone},{person.first},{person.last},1980,email,newsletter,"
           f"{notice['id']},2026-11-01T10:00:00Z,\"{page}\",\"{said}\",198.51.100.7\n"
           f"{person.email},{person.phone},{person.first},{person.last},{person.last},email,"
           f"newsletter,{notice['id']},2026-11-01T10:00:00Z,\"{said}\",x,198.51.100.7\n")
    job = await _ok(await client.post("/v1/imports", content=csv.encode(), headers={
        **_idem(h, "import"), "Content-Type": "text/csv"}))
    report = await _ok(await client.get(f"/v1/imports/{job['id']}", headers=h))
    assert report["rejected"] == 1 and report["created"] + report["updated"] >= 1, report

    # Data-subject requests: notes, requested changes, staff's reasons.
    rectify = await _ok(await client.post("/v1/requests", headers=_idem(h, "rectify"), json={
        "kind": "rectification", "email": person.email, "note": said,
        "changes": {"first_name": person.last, "last_name": person.first}}))
    await _ok(await client.post(f"/v1/requests/{rectify['id']}/extend", headers=_idem(h, "ext"),
                                json={"months": 1, "reason": said}))
    access = await _ok(await client.post("/v1/requests", headers=_idem(h, "access"), json={
        "kind": "access", "email": person.email, "note": said, "identity_verified": True}))
    await _ok(await client.post(f"/v1/requests/{access['id']}/complete",
                                headers=_idem(h, "complete"), json={"reason": said}))
    restrict = await _ok(await client.post("/v1/requests", headers=_idem(h, "restrict"), json={
        "kind": "restriction", "phone": person.phone, "note": said, "identity_verified": True}))
    await _ok(await client.post(f"/v1/requests/{restrict['id']}/reject",
                                headers=_idem(h, "reject"), json={"reason": said}))
    withdraw = await _ok(await client.post("/v1/requests", headers=_idem(h, "withdraw"), json={
        "kind": "withdrawal", "email": person.email, "note": said}))
    await _ok(await client.post(f"/v1/requests/{withdraw['id']}/verify", headers=_idem(h, "v"),
                                json={"note": f"called {person.phone}, {person.first} answered"}))
    limits.forget()
    asked = await client.post(f"/p/{tenant.slug}/requests", headers=browser, data={
        "kind": "objection", "email": person.email, "note": said})
    assert asked.status_code == 200, asked.text
    e164 = "+33" + person.digits
    await _ok(await client.post("/v1/segments", headers=_idem(h, "segment"), json={
        "name": f"Only {person.email}", "rules": {"type": "any", "rules": [
            {"type": "field", "field": "email", "op": "eq", "value": person.email.lower()},
            {"type": "field", "field": "phone", "op": "in", "value": [e164, "+33600000000"]},
            {"type": "field", "field": "external_id", "op": "eq", "value": person.email}]}}))
    await _ok(await client.post("/v1/suppressions", headers=_idem(h, "suppress"), json={
        "email": person.email, "channel": "sms", "reason": "manual"}))
    return cid


async def test_erasure_sweeps_every_field_a_client_or_the_person_can_fill(
        client, database_url, smtp):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email", "sms", "postal"))
    person = Person()
    cid = await _fill_every_field(client, tenant, person, notice)
    await OutboxWorker(smtp.url, "Optinbase <no-reply@example.org>").run_once()
    assert any(person.first.encode() in r.raw for r in smtp.received)  # mail went out

    events = await _ok(await client.get(f"/v1/contacts/{cid}/consent-events?limit=100",
                                        headers=tenant.headers))
    sources = {e["source"] for e in events["items"]}
    assert f"http://testserver/p/{tenant.slug}/subscribe" in sources  # no query, no fragment
    assert "https://shop.example/join" in sources
    assert not [s for s in sources if s and ("?" in s or "#" in s)]

    before = whole_database(database_url, tenant.id)
    assert leaks(before, person.needles) == person.needles  # the search can see them

    await _ok(await client.delete(f"/v1/contacts/{cid}", headers=tenant.headers), 204)

    after = whole_database(database_url, tenant.id)
    assert leaks(after, person.needles) == []
    assert leaks(after, [quote(person.email.lower()), person.email.lower()]) == []
    verify = await _ok(await client.get("/v1/ledger/verify", headers=tenant.headers))
    assert verify["ok"] is True and verify["events"] == len(events["items"]), verify
    async with db.tenant_transaction(tenant.id, write=False):  # the proof stays, blanked
        kept = await db.fetch("SELECT action, source, ip, user_agent, contact_id, chain_format"
                              " FROM consent_event WHERE tenant_id = {}", tenant.id)
    assert len(kept) == len(events["items"])
    assert all(r["chain_format"] == 2 and r["source"] is r["ip"] is r["user_agent"]
               is r["contact_id"] is None for r in kept)
