"""Phone canvassing: proof of consent and the calls made.

Since 11 August 2026 (Code de la consommation L. 223-1, as amended by the law
of 30 June 2025) calling a consumer to sell needs their prior consent, which
the professional must prove; calls within an ongoing contract about its
subject are the exception — a purpose with `legal_basis: "contract"`, whose
records say `dpv:Contract`, not consent. Calls of either kind follow the
calling rules (consent.calling), which the phone consent check applies at the
time of the intended call.

* Proof: a phone grant carries `proof` — how consent was collected (form, in
  store, during a call), the notice or script version, and for a consent
  given during a call the agent and a reference to the recording — stored in
  `phone_proof` beside its ledger event (the ledger's rows never change).
* Calls: `POST /v1/contacts/{id}/contact-attempts` records each call or
  attempt and its outcome; a `refused` outcome starts the sixty-day pause.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any, Optional

import phonenumbers
from phonenumbers import timezone as phone_zones

from consent import calling, contacts, purposes
from consent.ledger.chain import acted_at_problem
from consent.schemas import AttemptIn, AttemptOut, ConsentIn
from optinbase import db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field
from tenants import repository

_PROOF_FIELDS = ("collected_via", "script_version", "agent", "recording_ref")


def check_proof(data: ConsentIn) -> None:
    """A 422 naming the field when the proof does not fit the consent."""
    if data.proof is None:
        if data.channel == "phone" and data.action == "grant":
            raise invalid_field("proof", "a phone consent needs its proof (collected_via, ...)")
        return
    if data.channel != "phone" or data.action != "grant":
        raise invalid_field("proof", "proof is for phone-channel grants")
    if data.proof.collected_via == "call":
        for name in ("agent", "recording_ref"):
            if not getattr(data.proof, name):
                raise invalid_field(f"proof.{name}", "a consent given during a call names"
                                                     " the agent and the recording")


async def store_proof(ctx: TenantContext, event_id: uuid.UUID, data: ConsentIn) -> None:
    if data.proof is None:
        return
    proof = data.proof
    await db.execute(
        "INSERT INTO phone_proof (id, tenant_id, event_id, collected_via, script_version, agent,"
        " recording_ref) VALUES ({}, {}, {}, {}, {}, {}, {})",
        uuid.uuid4(), ctx.tenant_id, event_id, proof.collected_via, proof.script_version,
        proof.agent, proof.recording_ref)


async def proof_of(ctx: TenantContext, event_id: uuid.UUID) -> Optional[dict[str, Any]]:
    row = await db.fetchrow(
        "SELECT collected_via, script_version, agent, recording_ref FROM phone_proof"
        " WHERE tenant_id = {} AND event_id = {}", ctx.tenant_id, event_id)
    return None if row is None else {name: row[name] for name in _PROOF_FIELDS}


# --- calls ------------------------------------------------------------------------


def _out(row: Any) -> AttemptOut:
    return AttemptOut(id=row["id"], contact_id=row["contact_id"],
                      channel=row["channel"], purpose=row["purpose"], at=row["at"],
                      outcome=row["outcome"], agent=row["agent"])


_ATTEMPTS = (
    "SELECT a.id, a.contact_id, a.channel, p.key AS purpose, a.at, a.outcome, a.agent"
    " FROM contact_attempt a LEFT JOIN purpose p ON p.tenant_id = a.tenant_id"
    " AND p.id = a.purpose_id WHERE a.tenant_id = {} AND a.contact_id = {}"
)


async def record_attempt(ctx: TenantContext, contact_id: uuid.UUID, data: AttemptIn) -> AttemptOut:
    db.require_tenant(ctx.tenant_id)
    if await contacts.find_contact(ctx, contact_id) is None:
        raise NotFound("contact not found")
    purpose_id = None
    if data.purpose is not None:
        found = await purposes.find_purpose(ctx, data.purpose)
        if found is None:
            raise invalid_field("purpose", f"unknown purpose {data.purpose!r}")
        purpose_id = found["id"]
    now = dt.datetime.now(dt.timezone.utc)
    at = data.at or now
    problem = acted_at_problem(at, now)
    if problem:
        raise invalid_field("at", problem)
    attempt_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO contact_attempt (id, tenant_id, contact_id, channel, purpose_id, at, outcome,"
        " agent, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        attempt_id, ctx.tenant_id, contact_id, data.channel, purpose_id, at, data.outcome,
        data.agent, now)
    return _out(await db.fetchrow(_ATTEMPTS + " AND a.id = {}", ctx.tenant_id, contact_id,
                                  attempt_id))


async def list_attempts(ctx: TenantContext, contact_id: uuid.UUID) -> list[AttemptOut]:
    db.require_tenant(ctx.tenant_id)
    if await contacts.find_contact(ctx, contact_id) is None:
        raise NotFound("contact not found")
    rows = await db.fetch(_ATTEMPTS + " ORDER BY a.at, a.id LIMIT 1000", ctx.tenant_id,
                          contact_id)
    return [_out(row) for row in rows]


async def _zone(ctx: TenantContext, phone: Optional[str]) -> zoneinfo.ZoneInfo:
    """The consumer's time zone: their number's, when it has one zone (+33 6…
    → Europe/Paris, +262 … → Indian/Reunion); else the tenant's."""
    if phone:
        try:
            zones = phone_zones.time_zones_for_number(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            zones = ()
        known = [z for z in zones if z != "Etc/Unknown"]
        if known:
            return zoneinfo.ZoneInfo(known[0])
    return i18n.time_zone_of(await repository.tenant_by_id(ctx.tenant_id))


async def calling_reason(ctx: TenantContext, contact_id: uuid.UUID, phone: Optional[str],
                         at: dt.datetime) -> Optional[str]:
    """Why the calling rules refuse a call to this contact at `at`, or None."""
    reason = calling.time_reason(at.astimezone(await _zone(ctx, phone)))
    if reason:
        return reason
    rows = await db.fetch(
        "SELECT at, outcome FROM contact_attempt WHERE tenant_id = {} AND contact_id = {}"
        " AND at > {} AND at <= {}", ctx.tenant_id, contact_id,
        at - calling.PAUSE_AFTER_REFUSAL, at)
    return calling.frequency_reason(at, [(r["at"], r["outcome"]) for r in rows])
