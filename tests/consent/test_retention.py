"""Retention (CNIL) on both engines: the inactive are asked once, the silent
are erased after the delay without being suppressed, the never-confirmed are
purged, expired packages and unverified requests do not linger; restricted
people and people with an open request are left alone; `--dry-run` lists and
changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import re

from optinbase import db
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant
from tests.processes import optinbase
from workers import housekeeping

NOW = dt.datetime.now(dt.timezone.utc)
LONG_AGO = NOW - dt.timedelta(days=365 * 3 + 40)
KEEP = re.compile(r"/p/keep/([A-Za-z0-9_-]+)")


async def _set(tenant, table, row_id, **columns):
    async with db.tenant_transaction(tenant.id):
        for name, value in columns.items():
            await db.execute(f"UPDATE {table} SET {name} = {{}} WHERE tenant_id = {{}} AND id = {{}}",
                             value, tenant.id, row_id)


async def _contact_ids(tenant):
    async with db.tenant_transaction(tenant.id, write=False):
        return {str(r["id"]) for r in await db.fetch(
            "SELECT id FROM contact WHERE tenant_id = {}", tenant.id)}


async def _scene(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    people = {}
    for name, extra in (("active", {}), ("silent", {}), ("no_address", {"email": None,
                                                                         "phone": "+33600000001"}),
                        ("restricted", {}), ("asking", {}), ("asking_unverified", {}),
                        ("unconfirmed", {})):
        body = {"email": f"{name}.{tenant.slug}@example.com", **extra}
        people[name] = await make_contact(tenant, **body)
    for name in ("active", "silent", "restricted", "asking"):
        await grant(tenant, people[name]["id"], notice["id"])
    await grant(tenant, people["unconfirmed"]["id"], notice["id"], method="web_form",
                double_opt_in=True)
    for name in ("silent", "no_address", "restricted", "asking", "asking_unverified",
                 "unconfirmed"):
        await _set(tenant, "contact", people[name]["id"], last_activity_at=LONG_AGO,
                   created_at=LONG_AGO)
    await _set(tenant, "contact", people["restricted"]["id"], restricted_at=NOW)
    await client.post("/v1/requests", json={"kind": "access", "email": people["asking"]["email"],
                                            "identity_verified": True}, headers=tenant.headers)
    # Asked, not yet verified: not linked to the contact, yet not to be purged meanwhile.
    await client.post("/v1/requests", json={"kind": "access",
                                            "email": people["asking_unverified"]["email"]},
                      headers=tenant.headers)
    async with db.tenant_transaction(tenant.id):
        await db.execute("UPDATE consent_state SET status = 'expired' WHERE tenant_id = {}"
                         " AND contact_id = {}", tenant.id, people["unconfirmed"]["id"])
    # An access package past its expiry, and a request never verified.
    done = (await client.post("/v1/requests", json={
        "kind": "access", "email": "old@example.com", "identity_verified": True},
        headers=tenant.headers)).json()
    await client.post(f"/v1/requests/{done['id']}/complete", headers=tenant.headers)
    await _set(tenant, "data_subject_request", done["id"],
               package_expires_at=NOW - dt.timedelta(days=1))
    stale = (await client.post("/v1/requests", json={"kind": "erasure", "email": "who@example.com"},
                               headers=tenant.headers)).json()
    await _set(tenant, "data_subject_request", stale["id"],
               received_at=NOW - dt.timedelta(days=11))  # 72 h link + 7 days, and a bit
    return tenant, people, done, stale


async def test_retention_asks_then_erases_and_cleans_up(client):
    tenant, people, done, stale = await _scene(client)
    before = await _contact_ids(tenant)

    lines = await housekeeping.retention_due(NOW, only=tenant.slug, dry_run=True)
    by_action = {}
    for line in lines:
        slug, action, item_id, _why = line.split("\t")
        assert slug == tenant.slug
        by_action.setdefault(action, set()).add(item_id)
    assert by_action == {
        "re-permission": {people["silent"]["id"], people["no_address"]["id"]},
        "purge-unconfirmed": {people["unconfirmed"]["id"]},
        "drop-package": {done["id"]},
        "lapse-request": {stale["id"]},
    }
    assert await _contact_ids(tenant) == before  # a dry run changes nothing

    summary = await housekeeping.retention_due(NOW, only=tenant.slug)
    assert summary == [f"{tenant.slug}: 2 re-permission, 1 unconfirmed purged,"
                       " 1 packages dropped, 1 requests lapsed"]
    assert await _contact_ids(tenant) == before - {people["unconfirmed"]["id"]}
    async with db.tenant_transaction(tenant.id, write=False):
        mails = await db.fetch("SELECT recipient, payload FROM outbox_message WHERE tenant_id = {}"
                               " AND (subject LIKE '%stay in touch%' OR subject LIKE '%rester en%')",
                               tenant.id)
        lapsed = await db.fetchrow("SELECT status, email FROM data_subject_request"
                                   " WHERE tenant_id = {} AND id = {}", tenant.id, stale["id"])
    assert [m["recipient"] for m in mails] == [people["silent"]["email"]]
    assert (lapsed["status"], lapsed["email"]) == ("lapsed", None)
    assert (await client.get(f"/v1/requests/{done['id']}/package",
                             headers=tenant.headers)).status_code == 410
    assert await housekeeping.retention_due(NOW, only=tenant.slug) == []  # asked once, not every cycle

    # The silent one presses "Stay"; the one without an address cannot.
    payload = mails[0]["payload"]
    token = KEEP.search(json.loads(payload)["text"] if isinstance(payload, str)
                        else payload["text"]).group(1)
    assert (await client.get(f"/p/keep/{token}")).status_code == 200
    assert (await client.post(f"/p/keep/{token}")).status_code == 200
    later = NOW + dt.timedelta(days=31)
    summary = await housekeeping.retention_due(later, only=tenant.slug)
    # The unverified request lapses now; its asker was left alone while it was open.
    assert summary == [f"{tenant.slug}: 1 erased, 1 requests lapsed"]
    left = await _contact_ids(tenant)
    assert people["no_address"]["id"] not in left and people["silent"]["id"] in left
    assert {people["restricted"]["id"], people["asking"]["id"], people["active"]["id"],
            people["asking_unverified"]["id"]} <= left
    # Purged for inactivity is not an objection: they may subscribe again.
    check = await client.get("/v1/suppressions/check", params={"phone": "+33600000001"},
                             headers=tenant.headers)
    assert check.json()["suppressed"] is False
    assert (await client.post(f"/p/keep/{token}x")).status_code == 404


def test_retention_command_dry_run(cli_env, backend, tmp_path):
    listed = optinbase("retention", "--dry-run", "--tenant", "no-such-tenant", env=cli_env,
                       cwd=tmp_path)
    assert listed.returncode == 1 and listed.stderr.strip().endswith("no tenant 'no-such-tenant'")


async def test_retention_command_lists_without_acting(client, cli_env, tmp_path):
    tenant, people, _, _ = await _scene(client)
    listed = optinbase("retention", "--dry-run", "--tenant", tenant.slug, env=cli_env,
                       cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"{tenant.slug}\tre-permission\t{people['silent']['id']}\tinactive since" in listed.stdout
    assert f"purge-unconfirmed\t{people['unconfirmed']['id']}" in listed.stdout
    assert people["unconfirmed"]["id"] in await _contact_ids(tenant)


async def test_a_keep_link_naming_another_tenants_contact_does_not_exist(client):
    import uuid

    from consent.requests import links
    from optinbase.settings import get_settings

    tenant, people, _, _ = await _scene(client)
    other = await make_tenant()
    later = NOW + dt.timedelta(days=30)
    secret = get_settings().secret_key
    foreign = links.make(secret, "keep", other.id, uuid.UUID(people["silent"]["id"]), later)
    missing = links.make(secret, "keep", tenant.id, uuid.uuid4(), later)
    for token in (foreign, missing):
        for method in (client.get, client.post):
            answer = await method(f"/p/keep/{token}", headers={"accept": "application/json"})
            assert answer.status_code == 404, answer.text
    answers = [await client.post(f"/p/keep/{t}", headers={"accept": "application/json"})
               for t in (foreign, missing)]
    assert answers[0].json() == answers[1].json()
