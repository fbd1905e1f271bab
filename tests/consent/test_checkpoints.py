"""Signed checkpoints: what a hash chain alone cannot see (its end cut off,
its history recomputed) is caught against the checkpoints published outside
the database; forged or foreign checkpoints are reported; receipts carry one
that a third party checks with the public key and the `cryptography` package
alone. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from typing import AsyncIterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consent.ledger import chain, checkpoint_log, checkpoints
from optinbase import db
from optinbase.context import TenantContext
from tests.api.test_receipts import _mails, _setup, double_opt_in, set_tenant
from tests.factories import as_owner, grant, make_contact, make_tenant, make_world
from workers import housekeeping


@contextlib.asynccontextmanager
async def as_dba(tenant_id: uuid.UUID) -> AsyncIterator[None]:
    """A committed transaction as someone with write access to the database:
    the owner role with the ledger's guard off (PostgreSQL: disabled inside
    this transaction only; SQLite: triggers dropped and re-created)."""
    async with as_owner(), db.tenant_transaction(tenant_id):
        if db.is_postgres():
            await db.execute("ALTER TABLE consent_event DISABLE TRIGGER consent_event_guard")
            yield
            await db.execute("ALTER TABLE consent_event ENABLE TRIGGER consent_event_guard")
        else:
            triggers = await db.fetch("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                                      " AND tbl_name = 'consent_event'")
            for trigger in triggers:
                await db.execute(f"DROP TRIGGER {trigger['name']}")
            yield
            for trigger in triggers:
                await db.execute(trigger["sql"])


_EVENT_ROW = (
    "SELECT id, tenant_id, seq, contact_id, channel, purpose_id, action, notice_id, method,"
    " source, collected_at, recorded_at, actor, ip, user_agent, pii_salt, personal_digest,"
    " prev_hash, hash, chain_format FROM consent_event WHERE tenant_id = {} AND seq >= {}"
    " ORDER BY seq"
)


def _ctx(world) -> TenantContext:
    """The context a housekeeping job would have for this world's tenant."""
    return TenantContext.for_system(world.tenant, "test")


async def truncate_last(tenant_id: uuid.UUID, contact_id: str) -> None:
    """Deletes the tenant's last event (a withdrawal), puts the state back to
    the grant before it and rewinds the head: the chain still links."""
    async with as_dba(tenant_id):
        last = await db.fetchrow("SELECT id, seq FROM consent_event WHERE tenant_id = {}"
                                 " ORDER BY seq DESC LIMIT 1", tenant_id)
        before = await db.fetchrow("SELECT id, seq, hash, collected_at FROM consent_event"
                                   " WHERE tenant_id = {} AND seq = {}",
                                   tenant_id, int(last["seq"]) - 1)
        await db.execute("UPDATE consent_state SET status = 'granted', event_id = {}, since = {}"
                         " WHERE tenant_id = {} AND contact_id = {}", before["id"],
                         before["collected_at"], tenant_id, uuid.UUID(contact_id))
        await db.execute("DELETE FROM consent_event WHERE tenant_id = {} AND id = {}",
                         tenant_id, last["id"])
        await db.execute("UPDATE ledger_head SET seq = {}, hash = {} WHERE tenant_id = {}",
                         before["seq"], before["hash"], tenant_id)


async def rewrite_from(tenant_id: uuid.UUID, seq: int, **changes) -> None:
    """Changes event `seq` and recomputes every hash after it, and the head:
    a rewritten history that links perfectly."""
    async with as_dba(tenant_id):
        prev = None
        for row in await db.fetch(_EVENT_ROW, tenant_id, seq):
            event = dict(row)
            if int(event["seq"]) == seq:
                event.update(changes)
                if event["pii_salt"] is not None:  # format 2 digests the source
                    event["personal_digest"] = chain.personal_digest(
                        event["pii_salt"], *chain.personal_fields(event))
            if prev is not None:
                event["prev_hash"] = prev
            event["hash"] = prev = chain.event_hash(event)
            await db.execute(
                "UPDATE consent_event SET action = {}, source = {}, personal_digest = {},"
                " prev_hash = {}, hash = {} WHERE tenant_id = {} AND id = {}",
                event["action"], event["source"], event["personal_digest"],
                event["prev_hash"], event["hash"], tenant_id, row["id"])
        await db.execute("UPDATE ledger_head SET hash = {} WHERE tenant_id = {}", prev, tenant_id)


async def chain_alone(tenant_id: uuid.UUID) -> chain.VerifyResult:
    async with db.tenant_transaction(tenant_id, write=False, snapshot=True):
        return await chain.verify(tenant_id)


async def verify(client, tenant) -> dict:
    answer = await client.get("/v1/ledger/verify", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def withdraw(client, world) -> dict:
    answer = await client.post(
        f"/v1/contacts/{world.contact['id']}/consents", headers=world.tenant.headers,
        json={"channel": "email", "purpose": "newsletter", "action": "withdraw", "method": "api"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def log_lines(tenant_id: uuid.UUID) -> list[dict]:
    path = checkpoint_log.path_for(tenant_id)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def third_party_check(checkpoint: dict, key: dict) -> None:
    """What someone holding a receipt does, with `cryptography` alone: rebuild
    the signed bytes as the README describes, verify with the published key
    (PEM and raw forms must agree). Raises InvalidSignature."""
    signed = "\n".join([checkpoint["format"], checkpoint["tenant_id"], str(checkpoint["seq"]),
                        checkpoint["hash"], checkpoint["at"]]).encode("ascii")
    signature = base64.b64decode(checkpoint["signature"])
    pem_key = load_pem_public_key(key["public_key_pem"].encode())
    raw_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    assert isinstance(pem_key, Ed25519PublicKey)
    pem_key.verify(signature, signed)
    raw_key.verify(signature, signed)


async def public_key(client) -> dict:
    answer = await client.get("/v1/ledger/public-key")  # no API key: it is public
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_published_checkpoint_is_logged_signed_and_verified(client):
    world = await make_world(await make_tenant())
    assert await checkpoints.publish_now(_ctx(world)) is not None
    [line] = log_lines(world.tenant.id)
    event = world.event
    assert (line["seq"], line["hash"], line["tenant_id"]) == (1, event["hash"], str(world.tenant.id))
    key = await public_key(client)
    assert key["algorithm"] == "Ed25519" and line["key_id"] == key["key_id"]
    third_party_check(line, key)
    answer = await verify(client, world.tenant)
    assert answer["ok"] is True and answer["checkpoints"] == 1, answer
    assert answer["first_broken_checkpoint"] is None


async def test_truncation_behind_a_checkpoint_is_caught_and_named(client):
    """The attack of issue 12: the withdrawal deleted, the state back to
    granted, the head rewound. The chain alone still verifies."""
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    published = await checkpoints.publish_now(_ctx(world))
    assert published.seq == 2
    await truncate_last(world.tenant.id, world.contact["id"])

    check = await client.get("/v1/consent-check", headers=world.tenant.headers, params={
        "contact_id": world.contact["id"], "channel": "email", "purpose": "newsletter"})
    assert check.json()["allowed"] is True  # the forged state is what the base now says
    assert (await chain_alone(world.tenant.id)).ok is True  # and the plain chain cannot see it

    answer = await verify(client, world.tenant)
    assert answer["ok"] is False and answer["events"] == 1
    assert answer["first_broken_event"] is None
    broken = answer["first_broken_checkpoint"]
    assert (broken["line"], broken["seq"], broken["at"]) == (1, 2, published.at)
    assert "ends at event 1" in broken["reason"] and "truncation" in broken["reason"]
    assert "checkpoint seq 2" in answer["reason"] and "log line 1" in answer["reason"]


async def test_history_rewritten_and_rehashed_behind_a_checkpoint_is_caught(client):
    world = await make_world(await make_tenant())
    withdrawal = await withdraw(client, world)
    await grant(world.tenant, world.contact["id"], world.notice["id"], channel="sms")
    published = await checkpoints.publish_now(_ctx(world))
    assert published.seq == 3
    await rewrite_from(world.tenant.id, 2, action="refused", source="rewritten")

    assert (await chain_alone(world.tenant.id)).ok is True  # it links perfectly
    answer = await verify(client, world.tenant)
    assert answer["ok"] is False and answer["first_broken_event"] is None
    broken = answer["first_broken_checkpoint"]
    assert (broken["line"], broken["seq"]) == (1, 3)
    assert "rewritten" in broken["reason"]
    events = (await client.get(f"/v1/contacts/{world.contact['id']}/consent-events",
                               headers=world.tenant.headers)).json()["items"]
    assert events[1]["id"] == withdrawal["id"] and events[1]["action"] == "refused"


async def test_a_forged_head_is_never_signed(client):
    """Publishing again after the attack would vouch for the forged head: it is
    refused, naming the checkpoint the chain contradicts, and the log keeps
    only the true line."""
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    await checkpoints.publish_now(_ctx(world))
    await truncate_last(world.tenant.id, world.contact["id"])
    with pytest.raises(checkpoints.CheckpointRefused) as refused:
        await checkpoints.publish_now(_ctx(world))
    assert "checkpoint seq 2" in refused.value.detail and "truncated or rewound" in refused.value.detail
    assert [line["seq"] for line in log_lines(world.tenant.id)] == [2]
    answer = await verify(client, world.tenant)
    assert answer["ok"] is False and answer["checkpoints"] == 1
    assert answer["first_broken_checkpoint"]["line"] == 1


async def test_a_chain_regrown_past_a_truncation_is_not_signed_by_the_worker(client, caplog):
    """After the truncation, new events bring the chain back to the logged seq
    with another hash: the worker's next turn logs the contradiction as an
    error and signs nothing, and a receipt simply carries no checkpoint."""
    world = await make_world(await make_tenant())
    await withdraw(client, world)
    await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc))
    await truncate_last(world.tenant.id, world.contact["id"])
    regrown = await grant(world.tenant, world.contact["id"], world.notice["id"], channel="sms")
    caplog.set_level("ERROR", logger="optinbase.envelope")
    assert await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc)) == 0
    assert [line["seq"] for line in log_lines(world.tenant.id)] == [2]
    [record] = [r for r in caplog.records if str(world.tenant.id) in r.getMessage()]
    assert "checkpoint seq 2" in str(record.exc_info[1]) and "rewritten" in str(record.exc_info[1])
    receipt = await client.get(f"/v1/consent-events/{regrown['id']}/receipt",
                               headers=world.tenant.headers)
    assert receipt.status_code == 200, receipt.text
    assert [line["seq"] for line in log_lines(world.tenant.id)] == [2]


async def test_tampered_and_foreign_checkpoint_lines_are_reported(client):
    world = await make_world(await make_tenant())
    other = await make_world(await make_tenant())
    await checkpoints.publish_now(_ctx(world))
    await checkpoints.publish_now(_ctx(other))
    path = checkpoint_log.path_for(world.tenant.id)
    good = path.read_bytes()
    [line] = log_lines(world.tenant.id)

    async def reason_for(extra: dict | str) -> dict:
        text = extra if isinstance(extra, str) else json.dumps(extra)
        path.write_bytes(good + text.encode() + b"\n")
        answer = await verify(client, world.tenant)
        assert answer["ok"] is False and answer["checkpoints"] == 2, answer
        assert answer["first_broken_checkpoint"]["line"] == 2, answer
        return answer["first_broken_checkpoint"]

    # The same head, its time moved: the signature no longer covers it.
    moved = {**line, "at": "2020-01-01T00:00:00.000000Z"}
    assert "bad signature" in (await reason_for(moved))["reason"]
    # A later seq claimed with a forged signature.
    assert "bad signature" in (await reason_for({**line, "seq": 9}))["reason"]
    # Another tenant's log appended here (its lines are validly signed).
    foreign = checkpoint_log.path_for(other.tenant.id).read_text().strip()
    assert "another tenant" in (await reason_for(foreign))["reason"]
    # Another key, over the right tenant, seq and hash: not this server's word.
    stranger = Ed25519PrivateKey.generate()
    from consent.ledger import signing
    from optinbase import ed25519

    signature = stranger.sign(signing.message(line["tenant_id"], 1, line["hash"], line["at"]))
    forged = {**line, "key_id": ed25519.key_id(stranger.public_key()),
              "signature": base64.b64encode(signature).decode()}
    assert "another key" in (await reason_for(forged))["reason"]
    assert "bad signature" in (await reason_for({**forged, "key_id": line["key_id"]}))["reason"]
    # Not a checkpoint at all.
    assert (await reason_for("{\"seq\": 1}"))["reason"] == "the line is not a checkpoint"
    assert (await reason_for("\x00garbage"))["seq"] is None
    path.write_bytes(good)
    assert (await verify(client, world.tenant))["ok"] is True


async def test_checkpoints_of_a_retired_key_still_verify(client, monkeypatch):
    """After a key rotation the old lines verify against the retired public key
    (LEDGER_RETIRED_PUBLIC_KEYS, as /v1/ledger/public-key gave it), and the
    endpoint lists it for third parties; an unknown key is still refused."""
    from consent.ledger import signing
    from optinbase import ed25519, settings

    world = await make_world(await make_tenant())
    await checkpoints.publish_now(_ctx(world))
    old = await public_key(client)
    rotated = Ed25519PrivateKey.generate().private_bytes_raw()
    current = settings.get_settings()
    try:
        monkeypatch.setattr(signing, "get_settings", lambda: dataclasses.replace(
            current, ledger_signing_key=rotated))
        answer = await verify(client, world.tenant)
        assert answer["ok"] is False and "another key" in answer["first_broken_checkpoint"]["reason"]
        monkeypatch.setenv("LEDGER_RETIRED_PUBLIC_KEYS", f"junk, {old['public_key']}")
        with pytest.raises(settings.ConfigError):
            settings.load_settings()
        monkeypatch.setenv("LEDGER_RETIRED_PUBLIC_KEYS", old["public_key"])
        retired = settings.load_settings().ledger_retired_public_keys
        monkeypatch.setattr(signing, "get_settings", lambda: dataclasses.replace(
            current, ledger_signing_key=rotated, ledger_retired_public_keys=retired))
        answer = await verify(client, world.tenant)
        assert answer["ok"] is True and answer["checkpoints"] == 1, answer
        now = await public_key(client)
        assert now["key_id"] != old["key_id"]
        assert now["retired_keys"] == [{"key_id": old["key_id"], "public_key": old["public_key"]}]
        assert ed25519.key_id(ed25519.load_public(old["public_key_pem"])) == old["key_id"]
    finally:
        monkeypatch.undo()


async def test_a_whole_log_from_another_tenant_does_not_validate(client):
    world = await make_world(await make_tenant())
    other = await make_world(await make_tenant())
    await checkpoints.publish_now(_ctx(other))
    checkpoint_log.path_for(world.tenant.id).write_bytes(
        checkpoint_log.path_for(other.tenant.id).read_bytes())
    answer = await verify(client, world.tenant)
    assert answer["ok"] is False
    assert "another tenant" in answer["first_broken_checkpoint"]["reason"]


async def test_receipts_embed_a_checkpoint_a_third_party_can_check(client):
    tenant = await make_tenant()
    _, _, event = await _setup(tenant)
    key = await public_key(client)
    kantara = (await client.get(f"/v1/consent-events/{event['id']}/receipt",
                                headers=tenant.headers)).json()
    checkpoint = kantara["optinbase"]["checkpoint"]
    assert checkpoint["seq"] >= kantara["optinbase"]["seq"] == 1
    assert checkpoint["hash"] == kantara["optinbase"]["hash"]  # the head was this event
    third_party_check(checkpoint, key)
    with pytest.raises(InvalidSignature):
        third_party_check({**checkpoint, "seq": checkpoint["seq"] + 1}, key)
    # Published, not only shown: the log holds it; the ISO record reuses it.
    assert log_lines(tenant.id) == [checkpoint]
    record = (await client.get(f"/v1/consent-events/{event['id']}/receipt?format=iso27560",
                               headers=tenant.headers)).json()
    assert record["optinbase:ledger"]["checkpoint"] == checkpoint
    assert len(log_lines(tenant.id)) == 1
    assert (await verify(client, tenant))["ok"] is True


async def test_the_receipt_mailed_after_confirmation_carries_a_logged_checkpoint(client):
    tenant = await make_tenant()
    notice, _, _ = await _setup(tenant)
    await set_tenant(tenant, receipt_email=True)
    await double_opt_in(client, tenant, notice, await make_contact(tenant))
    _, _, payload = (await _mails(tenant))[1]
    receipt = json.loads(payload["text"][payload["text"].index("{"):])
    checkpoint = receipt["optinbase"]["checkpoint"]
    assert (checkpoint["seq"], checkpoint["hash"]) == (
        receipt["optinbase"]["seq"], receipt["optinbase"]["hash"])  # signed with the event
    third_party_check(checkpoint, await public_key(client))
    assert log_lines(tenant.id)[-1] == checkpoint  # logged once the confirmation committed
    assert (await verify(client, tenant))["ok"] is True


async def test_checkpoints_go_out_as_webhooks(client):
    world = await make_world(await make_tenant())
    hook = await client.post("/v1/webhooks", headers=world.tenant.headers, json={
        "url": "https://hooks.example/ledger", "events": ["ledger.checkpoint"]})
    assert hook.status_code == 201, hook.text
    published = await checkpoints.publish_now(_ctx(world))
    async with db.tenant_transaction(world.tenant.id, write=False):
        rows = await db.fetch("SELECT recipient, subject, payload FROM outbox_message"
                              " WHERE tenant_id = {} AND kind = 'webhook'", world.tenant.id)
    [row] = rows
    payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
    body = json.loads(payload["body"])
    assert row["subject"] == "ledger.checkpoint" and body["type"] == "ledger.checkpoint"
    assert body["data"] == log_lines(world.tenant.id)[0]
    assert body["data"]["signature"] == published.signature


async def test_the_worker_publishes_only_for_chains_that_moved(client):
    world = await make_world(await make_tenant())
    await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc))
    assert [line["seq"] for line in log_lines(world.tenant.id)] == [1]
    await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc))
    assert len(log_lines(world.tenant.id)) == 1  # nothing moved, nothing new
    await withdraw(client, world)
    await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc))
    assert [line["seq"] for line in log_lines(world.tenant.id)] == [1, 2]
    empty = await make_tenant()
    await housekeeping.publish_moved(dt.datetime.now(dt.timezone.utc))
    assert log_lines(empty.id) == []  # an empty chain commits to nothing


async def test_concurrent_publishers_do_not_duplicate_a_head(client):
    world = await make_world(await make_tenant())
    done = await asyncio.gather(*(checkpoints.publish_now(_ctx(world), only_if_moved=True)
                                  for _ in range(5)))
    assert sum(cp is not None for cp in done) == 1
    assert len(log_lines(world.tenant.id)) == 1


async def test_checkpoints_are_listed_page_by_page(client):
    world = await make_world(await make_tenant())
    other = await make_world(await make_tenant())
    for _ in range(2):
        await checkpoints.publish_now(_ctx(world))
        await withdraw(client, world)
    await checkpoints.publish_now(_ctx(world))
    await checkpoints.publish_now(_ctx(other))
    h = world.tenant.headers
    first = (await client.get("/v1/ledger/checkpoints?limit=2", headers=h)).json()
    assert [item["seq"] for item in first["items"]] == [1, 2]
    assert set(first["items"][0]) >= {"seq", "hash", "at", "signature", "key_id"}
    rest = (await client.get(f"/v1/ledger/checkpoints?limit=2&cursor={first['next_cursor']}",
                             headers=h)).json()
    assert [item["seq"] for item in rest["items"]] == [3] and rest["next_cursor"] is None
    mine = (await client.get("/v1/ledger/checkpoints", headers=other.tenant.headers)).json()
    assert [item["tenant_id"] for item in mine["items"]] == [str(other.tenant.id)]
    for cursor in ("not-a-cursor", "aTotMQ", "aTox"):  # garbage, i:-1, i:1 (mid-line)
        bad = await client.get(f"/v1/ledger/checkpoints?cursor={cursor}", headers=h)
        assert bad.status_code == 422, (cursor, bad.text)
    assert (await client.get("/v1/ledger/checkpoints")).status_code == 401
    empty = await make_tenant()
    assert (await client.get("/v1/ledger/checkpoints", headers=empty.headers)).json() == {
        "items": [], "next_cursor": None}
    # Another tenant's lines copied into this log are never shown here.
    checkpoint_log.path_for(empty.id).write_bytes(
        checkpoint_log.path_for(world.tenant.id).read_bytes())
    assert (await client.get("/v1/ledger/checkpoints", headers=empty.headers)).json()[
        "items"] == []


async def test_verify_refuses_to_read_outside_one_snapshot(client):
    world = await make_world(await make_tenant())
    if db.is_postgres():
        with pytest.raises(RuntimeError, match="snapshot"):
            async with db.tenant_transaction(world.tenant.id, write=False):
                await chain.walk(world.tenant.id)
    from consent.ledger import verification

    with pytest.raises(RuntimeError, match="outside a transaction"):
        async with db.tenant_transaction(world.tenant.id, write=False, snapshot=True):
            await verification.verify(_ctx(world))
