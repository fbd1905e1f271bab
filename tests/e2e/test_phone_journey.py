"""Phone canvassing end to end on a real server process: a consent given
during a call with its proof, the calling rules answered at the time of each
intended call, the calls recorded, the refusal's pause, the proof in the
ISO/IEC TS 27560 record."""

from __future__ import annotations

import datetime as dt

import pytest

from tests import processes
from tests.calling_times import calling_slot
from tests.factories import make_contact, make_notice, make_purpose, make_tenant, unique_slug


@pytest.fixture
async def caller(engine: str):
    tenant = await make_tenant(slug=unique_slug("call"), name="Call SAS", country="FR")
    await make_purpose(tenant, "offers", name="Offres")
    script = await make_notice(tenant, "offers", ("phone",), language="fr",
                               text="Acceptez-vous d'être appelé pour nos offres ?")
    person = await make_contact(tenant, phone="+33655443322")
    return tenant, script, person


def test_phone_rules_on_a_real_server(installation, caller):
    tenant, script, person = caller
    with installation.serving() as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        proof = {"collected_via": "call", "script_version": "2026-12", "agent": "Agent 9",
                 "recording_ref": "rec-e2e-1"}
        granted = api.post(f"/v1/contacts/{person['id']}/consents", json={
            "channel": "phone", "purpose": "offers", "action": "grant", "method": "phone_call",
            "notice_id": script["id"], "proof": proof})
        assert granted.status_code == 201, granted.text

        def check(at: dt.datetime) -> dict:
            return api.get("/v1/consent-check", params={
                "phone": "+33655443322", "channel": "phone", "purpose": "offers",
                "at": at.isoformat()}).json()

        now = dt.datetime.now(dt.timezone.utc)
        slot = calling_slot(now)
        assert check(slot)["allowed"] is True
        saturday = slot + dt.timedelta(days=(5 - slot.weekday()) % 7)
        assert check(saturday)["reason"] in ("weekend", "public_holiday")
        assert check(slot.replace(hour=21))["reason"] == "outside_calling_hours"

        for hours in (5, 4, 3):
            made = api.post(f"/v1/contacts/{person['id']}/contact-attempts", json={
                "outcome": "no_answer", "at": (now - dt.timedelta(hours=hours)).isoformat(),
                "agent": "Agent 9"})
            assert made.status_code == 201, made.text
        assert check(slot)["allowed"] is True  # three calls: one more is allowed
        api.post(f"/v1/contacts/{person['id']}/contact-attempts", json={"outcome": "refused"})
        paused = check(slot)
        assert (paused["allowed"], paused["reason"]) == (False, "refused_recently")
        assert check(calling_slot(now + dt.timedelta(days=60)))["allowed"] is True

        record = api.get(f"/v1/consent-events/{granted.json()['id']}/receipt",
                         params={"format": "iso27560"}).json()
        assert record["dct:provenance"]["optinbase:phoneProof"] == proof
        assert [a["outcome"] for a in api.get(
            f"/v1/contacts/{person['id']}/contact-attempts").json()] == [
            "no_answer", "no_answer", "no_answer", "refused"]
