"""The hash chain: any altered byte of a stored event is found and named;
the ledger refuses edits and deletes from the application."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from consent.ledger import chain
from optinbase import db
from tests.factories import (
    as_owner,
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_tenant,
    make_world,
    record,
)
from tests.processes import Installation


class _Rollback(Exception):
    pass


async def _tampered_verify(tenant_id: uuid.UUID, sql: str, *args, before: str = "") -> chain.VerifyResult:
    """As a DBA would: guard trigger off, change the row, verify, roll all back."""
    result = None
    async with as_owner():
        try:
            async with db.tenant_transaction(tenant_id, snapshot=True):
                if db.is_postgres():
                    await db.execute("ALTER TABLE consent_event DISABLE TRIGGER consent_event_guard")
                else:
                    await db.execute("DROP TRIGGER consent_event_blank_only")
                    await db.execute("DROP TRIGGER consent_event_no_delete")
                if before:
                    await db.execute(before, *args)
                await db.execute(sql, *args)
                result = await chain.verify(tenant_id)
                raise _Rollback
        except _Rollback:
            pass
    return result


@pytest.fixture
async def three_events(backend):
    world = await make_world(await make_tenant())
    withdraw = await record(world.tenant, world.contact["id"], "withdraw",
                            ip="2001:db8::1", user_agent="Mozilla/5.0")
    third = await grant(world.tenant, world.contact["id"], world.notice["id"],
                        channel="sms")
    second_purpose = await make_purpose(world.tenant, key="offers")
    other_notice = await make_notice(world.tenant, purpose="offers")
    other = await make_contact(world.tenant, email="other@example.com")
    return world, withdraw, third, second_purpose, other_notice, other


async def test_intact_chain_verifies(client, three_events):
    world, *_ = three_events
    answer = (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()
    assert answer == {"ok": True, "events": 3, "first_broken_event": None, "reason": None,
                      "checkpoints": 0, "first_broken_checkpoint": None}


def _changes(purpose, notice, other):
    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    return {
        "channel": "sms", "action": "granted", "method": "import", "source": "forged",
        "collected_at": when, "recorded_at": when, "actor": "api_key:forged",
        "ip": "198.51.100.7", "user_agent": "curl/8", "pii_salt": "00" * 16,
        "personal_digest": "0" * 64, "prev_hash": "f" * 64, "hash": "e" * 64,
        "seq": 99, "contact_id": uuid.UUID(other["id"]),
        "purpose_id": uuid.UUID(purpose["id"]), "notice_id": uuid.UUID(notice["id"]),
    }


COLUMNS = ["channel", "action", "method", "source", "collected_at", "recorded_at", "actor", "ip",
           "user_agent", "pii_salt", "personal_digest", "prev_hash", "hash", "seq", "contact_id",
           "purpose_id", "notice_id"]


@pytest.mark.parametrize("column", COLUMNS)
async def test_any_altered_field_names_that_event(three_events, column):
    world, second, _, purpose, notice, other = three_events
    value = _changes(purpose, notice, other)[column]
    result = await _tampered_verify(
        world.tenant.id, f"UPDATE consent_event SET {column} = {{}} WHERE id = {{}}",
        value, uuid.UUID(second["id"]),
    )
    assert result.ok is False
    assert result.first_broken_event == second["id"], result


async def test_a_deleted_event_is_found_at_the_gap(three_events):
    world, second, third, *_ = three_events
    result = await _tampered_verify(
        world.tenant.id, "DELETE FROM consent_event WHERE id = {}", uuid.UUID(second["id"]),
        before="DELETE FROM consent_state WHERE event_id = {}",
    )
    assert result.ok is False
    assert result.first_broken_event == third["id"]
    assert "gap" in result.reason


async def test_a_deleted_last_event_is_found_at_the_head(three_events):
    world, _, third, *_ = three_events
    result = await _tampered_verify(
        world.tenant.id, "DELETE FROM consent_event WHERE id = {}", uuid.UUID(third["id"]),
        before="DELETE FROM consent_state WHERE event_id = {}",
    )
    assert result.ok is False
    assert "head" in result.reason


async def test_the_application_cannot_edit_or_delete_events(client, three_events):
    world, second, *_ = three_events
    for sql in ("UPDATE consent_event SET channel = 'sms' WHERE id = {}",
                "DELETE FROM consent_event WHERE id = {}"):
        with pytest.raises(Exception) as caught:
            async with db.tenant_transaction(world.tenant.id):
                await db.execute(sql, uuid.UUID(second["id"]))
        assert "append-only" in str(caught.value) or "permission denied" in str(caught.value)
    answer = (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()
    assert answer["ok"] is True


async def test_blanking_personal_fields_keeps_the_chain_valid(client, three_events):
    """What erasure does: personal fields to NULL; the stored digest still links."""
    world, second, *_ = three_events
    async with db.tenant_transaction(world.tenant.id):
        await db.execute(
            "UPDATE consent_event SET ip = NULL, user_agent = NULL, pii_salt = NULL,"
            " contact_id = NULL WHERE tenant_id = {} AND id = {}",
            world.tenant.id, uuid.UUID(second["id"]),
        )
    answer = (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()
    assert answer["ok"] is True and answer["events"] == 3


async def test_cli_names_the_broken_event(tmp_path):
    """`optinbase ledger verify` exits 1 naming the event (SQLite file, real process)."""
    installation = Installation(tmp_path, f"sqlite:///{tmp_path}/l.sqlite3")
    run = installation.run

    assert run("migrate").returncode == 0
    assert run("tenants", "create", "ledger-cli", "--name", "L").returncode == 0
    script = (
        "import asyncio, uuid, datetime as dt\n"
        "from optinbase import db\n"
        "from consent.ledger import chain\n"
        "from tenants import repository\n"
        "async def main():\n"
        "    t = await repository.tenant_by_slug('ledger-cli')\n"
        "    async with db.tenant_transaction(t.id):\n"
        "        await db.execute(\"INSERT INTO purpose (id, tenant_id, key, name, description,"
        " legal_basis, dpv_purpose, retired, created_at) VALUES ({}, {}, 'p', 'P', '', 'consent',"
        " '', 0, {})\", uuid.uuid4(), t.id, dt.datetime.now(dt.timezone.utc))\n"
        "        pid = await db.fetchval(\"SELECT id FROM purpose WHERE tenant_id = {}\", t.id)\n"
        "        cid = uuid.uuid4(); now = dt.datetime.now(dt.timezone.utc)\n"
        "        await db.execute(\"INSERT INTO contact (id, tenant_id, email, attributes,"
        " created_at, updated_at) VALUES ({}, {}, 'a@example.com', '{{}}', {}, {})\","
        " cid, t.id, now, now)\n"
        "        rows = await chain.append([chain.NewEvent(tenant_id=t.id, contact_id=cid,"
        " channel='email', purpose_id=pid, action='withdrawn', method='admin', collected_at=now,"
        " recorded_at=now) for _ in range(3)])\n"
        "        print(rows[1]['id'])\n"
        "asyncio.run(main())\n"
    )
    victim = installation.python(script).strip().splitlines()[-1]
    ok = run("ledger", "verify", "--tenant", "ledger-cli")
    assert ok.returncode == 0 and "3 events" in ok.stdout
    import sqlite3

    conn = sqlite3.connect(f"{tmp_path}/l.sqlite3")
    conn.execute("DROP TRIGGER consent_event_blank_only")
    conn.execute("UPDATE consent_event SET method = 'api' WHERE id = ?", (victim,))
    conn.commit()
    conn.close()
    broken = run("ledger", "verify", "--tenant", "ledger-cli")
    assert broken.returncode == 1
    assert victim in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1
