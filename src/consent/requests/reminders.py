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
from optinbase.db import db_uuid
from optinbase.settings import get_settings
from tenants import repository

EVERY = dt.timedelta(days=1)
NEEDING_ATTENTION = (
    "SELECT id, kind, status, due_at FROM data_subject_request WHERE tenant_id = {}"
    f" AND status IN {OPEN_SQL} AND due_at <= {{}}"
    " AND (reminded_at IS NULL OR reminded_at <= {}) ORDER BY due_at, id LIMIT 200"
)


async def remind_dpos(now: dt.datetime) -> int:
    """Housekeeping job: returns how many reminder e-mails were queued."""

    public_url = get_settings().public_url
    sent = 0
    for tenant in await repository.all_tenants():
        if not tenant.dpo_email:
            continue
        tenant_id = tenant.id
        async with db.tenant_transaction(tenant_id):
            rows = await db.fetch(NEEDING_ATTENTION, tenant_id, now + deadlines.DUE_SOON,
                                  now - EVERY)
            if not rows:
                continue
            ctx = TenantContext(tenant_id=tenant_id, tenant_slug=tenant.slug,
                                actor="system:reminders")
            lines = [
                f"- {'OVERDUE' if deadlines.is_overdue(r['due_at'], now) else 'due soon'}:"
                f" {r['kind']} request {db_uuid(r['id'])} ({r['status']}),"
                f" due {r['due_at'].strftime('%Y-%m-%d %H:%M UTC')}"
                for r in rows
            ]
            overdue = sum(deadlines.is_overdue(r["due_at"], now) for r in rows)
            await enqueue_email(
                tenant_id, to=tenant.dpo_email,
                subject=f"[{tenant.name}] {len(rows)} data-subject request(s) need attention"
                        f" ({overdue} overdue)",
                text="GDPR Art. 12(3): answer within one month of receipt (extendable by two"
                     " months, with reasons, told to the person within the first month).\n\n"
                     + "\n".join(lines) + f"\n\nAdmin panel: {public_url}/admin/\n")
            for r in rows:
                await db.execute("UPDATE data_subject_request SET reminded_at = {}"
                                 " WHERE tenant_id = {} AND id = {}", now, tenant_id, r["id"])
                await record_event(ctx, db_uuid(r["id"]), "dpo_reminded",
                                   {"overdue": deadlines.is_overdue(r["due_at"], now)})
            sent += 1
    return sent
