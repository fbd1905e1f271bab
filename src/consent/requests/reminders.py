"""Reminders to the tenant's DPO: one digest a day listing the open requests
that are overdue or due within a week. Ids, kinds and dates only — the DPO
opens the panel for the rest, so no personal data travels by e-mail."""

from __future__ import annotations

import datetime as dt

from consent.requests import deadlines
from consent.requests.records import OPEN_SQL, record_event
from messaging.outbox import enqueue_email
from optinbase import db
from optinbase.context import TenantContext
from optinbase.settings import get_settings
from tenants.repository import TenantRecord

EVERY = dt.timedelta(days=1)
NEEDING_ATTENTION = (
    "SELECT id, kind, status, due_at FROM data_subject_request WHERE tenant_id = {}"
    f" AND status IN {OPEN_SQL} AND due_at <= {{}}"
    " AND (reminded_at IS NULL OR reminded_at <= {}) ORDER BY due_at, id LIMIT 200"
)


async def remind_dpo(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    """Housekeeping, for each tenant: one digest to its DPO of the requests due
    soon or overdue (each reminded at most daily). Returns 1 if one was queued."""
    if not tenant.dpo_email:
        return 0
    rows = await db.fetch(NEEDING_ATTENTION, ctx.tenant_id, now + deadlines.DUE_SOON,
                          now - EVERY)
    if not rows:
        return 0
    lines = [
        f"- {'OVERDUE' if deadlines.is_overdue(r['due_at'], now) else 'due soon'}:"
        f" {r['kind']} request {r['id']} ({r['status']}),"
        f" due {r['due_at'].strftime('%Y-%m-%d %H:%M UTC')}"
        for r in rows
    ]
    overdue = sum(deadlines.is_overdue(r["due_at"], now) for r in rows)
    await enqueue_email(
        ctx.tenant_id, to=tenant.dpo_email,
        subject=f"[{tenant.name}] {len(rows)} data-subject request(s) need attention"
                f" ({overdue} overdue)",
        text="GDPR Art. 12(3): answer within one month of receipt (extendable by two"
             " months, with reasons, told to the person within the first month).\n\n"
             + "\n".join(lines) + f"\n\nAdmin panel: {get_settings().public_url}/admin/\n")
    for r in rows:
        await db.execute("UPDATE data_subject_request SET reminded_at = {}"
                         " WHERE tenant_id = {} AND id = {}", now, ctx.tenant_id, r["id"])
        await record_event(ctx, r["id"], "dpo_reminded",
                           {"overdue": deadlines.is_overdue(r["due_at"], now)})
    return 1
