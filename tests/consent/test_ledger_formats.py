"""Chain formats (consent.ledger.chain): events written by the first release
(format 1, source hashed in clear) keep verifying beside format-2 events
(source digested as personal data); erasure blanks a format-2 source, leaves a
format-1 one (blanking it would break the chain), and the database refuses
both a blanked format-1 source and a changed format, on both engines."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import pytest

from consent.ledger import chain
from optinbase import db
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant


async def _first_release_event(tenant_id: uuid.UUID, contact_id: uuid.UUID,
                               purpose_id: uuid.UUID, source: str) -> uuid.UUID:
    """Appends an event exactly as the first release sealed it (format 1)."""
    async with db.tenant_transaction(tenant_id):
        head = chain.Chain(tenant_id)
        await head.lock()
        now = dt.datetime.now(dt.timezone.utc)
        salt, ip, agent = secrets.token_hex(16), "192.0.2.10", "OldAgent/1"
        event = {
            "id": uuid.uuid4(), "tenant_id": tenant_id, "seq": head.seq + 1,
            "contact_id": contact_id, "channel": "email", "purpose_id": purpose_id,
            "action": "granted", "notice_id": None, "method": "api", "source": source,
            "collected_at": now, "recorded_at": now, "actor": "test", "ip": ip,
            "user_agent": agent, "pii_salt": salt,
            "personal_digest": chain.personal_digest(salt, contact_id, ip, agent),
            "prev_hash": head.prev, "chain_format": 1,
        }
        event["hash"] = chain.event_hash(event)
        await db.execute(chain.INSERT_EVENT, *(event[c] for c in chain.EVENT_COLUMNS))
        head.seq, head.prev = event["seq"], event["hash"]
        await head.save()
    return event["id"]


async def _ledger(tenant_id: uuid.UUID) -> list:
    async with db.tenant_transaction(tenant_id, write=False):
        return await db.fetch("SELECT id, seq, source, ip, chain_format FROM consent_event"
                              " WHERE tenant_id = {} ORDER BY seq", tenant_id)


async def test_both_formats_verify_and_erasure_blanks_what_it_can(client):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    person = await make_contact(tenant, email="formats@example.org")
    pid, cid = uuid.UUID(purpose["id"]), uuid.UUID(person["id"])
    await _first_release_event(tenant.id, cid, pid, "old campaign")
    await grant(tenant, person["id"], notice["id"], source="https://new.example/p?x=1#y",
                ip="192.0.2.11")
    verify = (await client.get("/v1/ledger/verify", headers=tenant.headers)).json()
    assert verify["ok"] is True and verify["events"] == 2, verify
    old, new = await _ledger(tenant.id)
    assert (old["chain_format"], new["chain_format"]) == (1, 2)
    assert new["source"] == "https://new.example/p"  # a page URL loses query and fragment

    assert (await client.delete(f"/v1/contacts/{cid}", headers=tenant.headers)).status_code == 204
    old, new = await _ledger(tenant.id)
    assert (old["source"], old["ip"]) == ("old campaign", None)  # format 1: hashed in clear
    assert (new["source"], new["ip"]) == (None, None)
    verify = (await client.get("/v1/ledger/verify", headers=tenant.headers)).json()
    assert verify["ok"] is True and verify["events"] == 2, verify


async def test_the_database_refuses_what_would_break_the_chain(backend):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    person = await make_contact(tenant)
    old = await _first_release_event(tenant.id, uuid.UUID(person["id"]),
                                     uuid.UUID(purpose["id"]), "old campaign")
    await grant(tenant, person["id"], notice["id"], source="new campaign")
    new = (await _ledger(tenant.id))[1]["id"]
    for statement, event_id in (
        ("UPDATE consent_event SET source = NULL WHERE tenant_id = {} AND id = {}", old),
        ("UPDATE consent_event SET source = 'forged' WHERE tenant_id = {} AND id = {}", new),
        ("UPDATE consent_event SET chain_format = 1 WHERE tenant_id = {} AND id = {}", new),
    ):
        with pytest.raises(Exception, match="append-only|permission denied"):
            async with db.tenant_transaction(tenant.id):
                await db.execute(statement, tenant.id, event_id)
    async with db.tenant_transaction(tenant.id):  # what erasure does is allowed
        await db.execute("UPDATE consent_event SET source = NULL WHERE tenant_id = {} AND id = {}",
                         tenant.id, new)
    assert [r["source"] for r in await _ledger(tenant.id)] == ["old campaign", None]
