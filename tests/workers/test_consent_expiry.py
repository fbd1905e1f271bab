"""Consent expiry (issue 17 §2): a purpose's validity dates each grant, the
person is reminded once before the date with a renewal link, a lapsed grant
reads `expired` at once and the worker writes the ledger event `expired`;
checks, counts and exports leave it out. A notice change may require
re-consent: older versions' grants lapse on the chosen date."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from consent import expiry
from optinbase import db
from tenants import envelope
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

LINK = re.compile(r"http://[^\s]+/p/reconsent/([A-Za-z0-9_\-]+)")
UTC = dt.timezone.utc


async def _run(tenant, now):
    [done] = await envelope.each_tenant("consent expiry",
                                        lambda ctx, t: expiry.run(ctx, t, now),
                                        only=tenant.slug, strict=True)
    return done


async def _check(client, tenant, email):
    return (await client.get("/v1/consent-check", headers=tenant.headers, params={
        "email": email, "channel": "email", "purpose": "newsletter"})).json()


async def _state(client, tenant, contact):
    [state] = (await client.get(f"/v1/contacts/{contact['id']}/consents",
                                headers=tenant.headers)).json()
    return state


async def _mails(tenant):
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch("SELECT recipient, subject, payload FROM outbox_message"
                              " WHERE tenant_id = {}", tenant.id)
    return [(r["recipient"], r["subject"], r["payload"] if isinstance(r["payload"], dict)
             else json.loads(r["payload"])) for r in rows]


async def _world(client, months=12, ago_days=350):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant, validity_months=months)
    assert purpose["validity_months"] == months
    notice = await make_notice(tenant, channels=("email",))
    anne = await make_contact(tenant, email="anne@example.org")
    acted = dt.datetime.now(UTC) - dt.timedelta(days=ago_days)
    await grant(tenant, anne["id"], notice["id"], collected_at=acted.isoformat())
    segment = (await client.post("/v1/segments", headers=tenant.headers, json={
        "name": "all", "rules": {"type": "all", "rules": []}})).json()
    return tenant, notice, anne, acted, segment


async def test_grant_is_dated_reminded_once_then_expired(client):
    tenant, notice, anne, acted, segment = await _world(client)
    state = await _state(client, tenant, anne)
    expires = dt.datetime.fromisoformat(state["expires_at"])
    # Twelve calendar months after the person acted.
    assert abs(expires - acted.replace(year=acted.year + 1)) < dt.timedelta(seconds=1)
    assert (await _check(client, tenant, "anne@example.org"))["allowed"] is True

    now = dt.datetime.now(UTC)
    assert await _run(tenant, now) == 1  # the reminder, 15 days before
    [(to, subject, payload)] = await _mails(tenant)
    assert to == "anne@example.org" and "expire" in subject
    assert LINK.search(payload["text"])
    assert await _run(tenant, now + dt.timedelta(hours=1)) == 0  # once only
    assert len(await _mails(tenant)) == 1

    later = expires + dt.timedelta(days=1)
    assert await _run(tenant, later) == 1
    events = (await client.get(f"/v1/contacts/{anne['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    assert (events[-1]["action"], events[-1]["method"], events[-1]["actor"]) == (
        "expired", "expiry", "system")
    answer = await _check(client, tenant, "anne@example.org")
    assert (answer["allowed"], answer["status"]) == (False, "expired")
    params = {"channel": "email", "purpose": "newsletter"}
    count = await client.get(f"/v1/segments/{segment['id']}/count", params=params,
                             headers=tenant.headers)
    assert count.json()["count"] == 0
    export = await client.get(f"/v1/segments/{segment['id']}/export",
                              params={**params, "format": "ndjson"}, headers=tenant.headers)
    assert export.text == ""
    assert await _run(tenant, later) == 0  # nothing left to do


async def test_renewal_from_the_reminder_restarts_the_clock(client):
    tenant, notice, anne, acted, _ = await _world(client)
    await _run(tenant, dt.datetime.now(UTC))
    [(_, _, payload)] = await _mails(tenant)
    token = LINK.search(payload["text"]).group(1)
    page = await client.get(f"/p/reconsent/{token}")
    assert page.status_code == 200 and notice["text"] in page.text
    done = await client.post(f"/p/reconsent/{token}", headers={"Accept": "application/json"})
    assert done.json()["state"] == "done"
    state = await _state(client, tenant, anne)
    renewed = dt.datetime.fromisoformat(state["expires_at"])
    assert renewed - dt.datetime.now(UTC) > dt.timedelta(days=360)


async def test_grants_recorded_without_a_date_are_dated_by_the_worker(client):
    tenant, _, anne, acted, _ = await _world(client, ago_days=400)
    async with db.tenant_transaction(tenant.id):  # as an import leaves them
        await db.execute("UPDATE consent_state SET expires_at = NULL WHERE tenant_id = {}",
                         tenant.id)
    assert (await _check(client, tenant, "anne@example.org"))["allowed"] is True
    assert await _run(tenant, dt.datetime.now(UTC)) == 2  # dated, then expired
    assert (await _check(client, tenant, "anne@example.org"))["status"] == "expired"


async def test_no_validity_no_expiry(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant, channels=("email",))
    bob = await make_contact(tenant, email="bob@example.org")
    await grant(tenant, bob["id"], notice["id"],
                collected_at=(dt.datetime.now(UTC) - dt.timedelta(days=3000)).isoformat())
    assert (await _state(client, tenant, bob))["expires_at"] is None
    assert await _run(tenant, dt.datetime.now(UTC)) == 0


async def test_notice_change_requires_reconsent(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    v1 = await make_notice(tenant, channels=("email",), text="One.")
    old = await make_contact(tenant, email="old@example.org")
    await grant(tenant, old["id"], v1["id"])
    v2 = await make_notice(tenant, channels=("email",), text="Two, with new partners.",
                           partners=["Acme"])
    new = await make_contact(tenant, email="new@example.org")
    await grant(tenant, new["id"], v2["id"])
    on = (dt.datetime.now(UTC) + dt.timedelta(days=10)).replace(microsecond=0)
    answer = await client.post(f"/v1/notices/{v2['id']}/require-reconsent",
                               headers=tenant.headers, json={"expires_at": on.isoformat()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["affected"] == 1 and answer.json()["version"] == 2
    assert dt.datetime.fromisoformat((await _state(client, tenant, old))["expires_at"]) == on
    assert (await _state(client, tenant, new))["expires_at"] is None
    # Reminded now (10 days < 30), expired on the day.
    assert await _run(tenant, dt.datetime.now(UTC)) == 1
    assert [m[0] for m in await _mails(tenant)] == ["old@example.org"]
    assert await _run(tenant, on + dt.timedelta(seconds=1)) == 1
    assert (await _check(client, tenant, "old@example.org"))["status"] == "expired"
    assert (await _check(client, tenant, "new@example.org"))["allowed"] is True

    past = await client.post(f"/v1/notices/{v2['id']}/require-reconsent", headers=tenant.headers,
                             json={"expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    stranger = await make_tenant()
    foreign = await client.post(f"/v1/notices/{v2['id']}/require-reconsent",
                                headers=stranger.headers, json={"expires_at": on.isoformat()})
    assert foreign.status_code == 404
    missing = await client.post(f"/v1/notices/{uuid.uuid4()}/require-reconsent",
                                headers=tenant.headers, json={"expires_at": on.isoformat()})
    assert missing.status_code == 404
