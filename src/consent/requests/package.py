"""The access / portability package (GDPR Art. 15 and 20): one zip holding the
same data as JSON (`data.json`) and as CSV files, machine-readable both ways.

It holds who the controller is, the contact, every consent state, every ledger
event with its proof and the exact notice text shown, the purposes with their
legal basis, the segments the person falls in, and their requests — and the
facts Art. 15(1) asks for beside the data: sources, recipients, how long the
data is kept, and the person's rights.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any, Optional
from urllib.parse import urlparse

import msgspec

from consent import consents, contacts, suppression
from consent.segments import rules as segment_rules
from consent.segments.compile import compile_rule
from optinbase import db, spreadsheet
from optinbase.context import TenantContext
from tenants.repository import TenantRecord

_EVENTS = (
    "SELECT e.id, e.seq, e.channel, p.key AS purpose, e.action, e.method, e.source,"
    " e.collected_at, e.recorded_at, e.actor, e.ip, e.user_agent, e.hash,"
    " n.id AS notice_id, n.version AS notice_version, n.language AS notice_language,"
    " n.text AS notice_text, n.text_sha256 AS notice_sha256, n.partners AS notice_partners,"
    " n.policy_url AS notice_policy_url"
    " FROM consent_event e JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
    " LEFT JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    " WHERE e.tenant_id = {} AND e.contact_id = {} ORDER BY e.seq"
)
_PURPOSES = (
    "SELECT DISTINCT p.key, p.name, p.description, p.legal_basis, p.dpv_purpose"
    " FROM consent_event e JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
    " WHERE e.tenant_id = {} AND e.contact_id = {} ORDER BY p.key"
)
_REQUESTS = (
    "SELECT id, kind, status, source, received_at, verified_at, due_at, extended_months,"
    " extension_reason, closed_at, outcome FROM data_subject_request"
    " WHERE tenant_id = {} AND (subject_hash IN ({}, {}, {}) OR contact_id = {})"
    " ORDER BY received_at"
)


RIGHTS = (
    "access (Art. 15)", "rectification (Art. 16)", "erasure (Art. 17)",
    "restriction of processing (Art. 18)", "data portability (Art. 20)",
    "objection, at any time, to direct marketing (Art. 21)",
    "withdrawal of consent at any time, as easily as it was given (Art. 7(3))",
    "lodging a complaint with a supervisory authority (Art. 77; in France, the CNIL)",
)


async def _information(ctx: TenantContext, tenant: TenantRecord, contact: Optional[dict],
                       events: list[dict[str, Any]]) -> dict[str, Any]:
    """Art. 15(1)(c)-(g): recipients, storage period, rights, sources."""
    hosts = sorted({urlparse(r["url"]).hostname or "" for r in await db.fetch(
        "SELECT url FROM webhook_endpoint WHERE tenant_id = {} AND disabled_at IS NULL",
        ctx.tenant_id)} - {""})
    months = int(tenant.settings.get("retention_months") or 36)
    sources = sorted({s for s in [(contact or {}).get("source"),
                                  *(e.get("source") for e in events)] if s})
    return {
        "sources": sources,
        "recipients": [f"systems of {tenant.name} notified of consent changes: {h}"
                       for h in hosts],
        "storage_period": f"{months} months after your last interaction with us, after one"
                          " e-mail asking whether you wish to stay; proof of your consents"
                          " (without your contact details) is kept as long as we must be able"
                          " to prove them",
        "rights": list(RIGHTS),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return value


def _rows(rows: list[Any], json_columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = {k: _plain(v) for k, v in dict(row).items()}
        for name in json_columns:
            if isinstance(item.get(name), str):
                item[name] = json.loads(item[name])
        out.append(item)
    return out


async def _segments_of(ctx: TenantContext, contact_id: Any) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.timezone.utc)
    found = []
    for segment in await db.fetch(
        "SELECT id, name, rules FROM segment WHERE tenant_id = {} ORDER BY name, id", ctx.tenant_id
    ):
        raw = segment["rules"]
        rule = segment_rules.parse(raw)
        condition = compile_rule(rule, postgres=db.is_postgres(), tenant_id=ctx.tenant_id, now=now)
        if await db.fetchval(
            f"SELECT count(*) FROM contact c WHERE c.tenant_id = {{}} AND c.id = {{}}"
            f" AND ({condition.text})", ctx.tenant_id, contact_id, *condition.args,
        ):
            found.append({"id": str(segment["id"]), "name": segment["name"]})
    return found


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                             else spreadsheet.cell(v) for k, v in row.items()})
    return buffer.getvalue()


README = """This package holds the personal data {tenant} keeps about you, as
data.json (everything, one file) and as CSV files (one per kind of record):

  contact.csv          who you are in our base
  consent_states.csv   what you currently agree to, per channel and purpose
  consent_events.csv   every consent you gave or withdrew, with its proof and
                       the exact text you were shown
  purposes.csv         why we process your data, and on which legal basis
  segments.csv         the audiences you fall in
  requests.csv         your requests about your data

data.json also says where the data came from, who receives it, how long it is
kept, and your rights ("information").

Controller: {legal_name}. Data protection officer: {dpo}.
Generated {generated} (UTC).
"""


async def build(ctx: TenantContext, request: Any, contact: Optional[Any],
                tenant: TenantRecord) -> bytes:
    generated = dt.datetime.now(dt.timezone.utc)
    contact_id = None if contact is None else contact["id"]
    data: dict[str, Any] = {
        "generated_at": generated.isoformat(),
        "controller": {"name": tenant.name, "legal_name": tenant.legal_name or tenant.name,
                       "dpo_email": tenant.dpo_email},
        "request": {"id": str(request["id"]), "kind": request["kind"]},
        "contact": None, "consent_states": [], "consent_events": [], "purposes": [],
        "segments": [],
    }
    hashes: tuple[Optional[str], Optional[str]] = (None, None)
    if contact_id is not None:
        full = await contacts.get_contact(ctx, contact_id)
        data["contact"] = msgspec.to_builtins(full)
        hashes = await suppression.contact_hashes(ctx, full.email, full.phone)
        data["consent_states"] = msgspec.to_builtins(await consents.list_states(ctx, contact_id))
        data["consent_events"] = _rows(await db.fetch(_EVENTS, ctx.tenant_id, contact_id),
                                       ("notice_partners",))
        data["purposes"] = _rows(await db.fetch(_PURPOSES, ctx.tenant_id, contact_id))
        data["segments"] = await _segments_of(ctx, contact_id)
    data["information"] = await _information(ctx, tenant, data["contact"],
                                             data["consent_events"])
    data["requests"] = _rows(await db.fetch(
        _REQUESTS, ctx.tenant_id, request["subject_hash"], hashes[0] or "", hashes[1] or "",
        contact_id,
    ))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README.format(
            tenant=tenant.name, legal_name=tenant.legal_name or tenant.name,
            dpo=tenant.dpo_email or "-", generated=generated.strftime("%Y-%m-%d %H:%M")))
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("contact.csv", _csv([data["contact"]] if data["contact"] else []))
        for name in ("consent_states", "consent_events", "purposes", "segments", "requests"):
            archive.writestr(f"{name}.csv", _csv(data[name]))
    return buffer.getvalue()
