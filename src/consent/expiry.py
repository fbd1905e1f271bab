"""Consents do not last for ever.

* A purpose may carry `validity_months`: a grant of it lapses that many
  calendar months after the person acted (`consent_state.expires_at`, set
  when the grant is recorded — consent.ledger.states.valid_until — and filled
  in here for grants recorded before, or by imports).
* A tenant may require re-consent after a notice change
  (`POST /v1/notices/{id}/require-reconsent`): grants of that purpose and
  channel under an older version (or under no notice) then lapse on the
  chosen date, whatever their validity says.
* A grant past `expires_at` reads as `expired` at once everywhere (check,
  count, export: consent.ledger.states.effective_status and the audience
  query); the worker then writes the ledger event `expired` (method
  `expiry`), so the ledger says it too.
* Before that, the person is reminded once: `expiry_reminder_days` (tenant
  setting, default 30; 0: never) before the date, an e-mail with a link to
  the purpose's current notice (consent.reconsent); confirming is a new grant,
  whose validity starts again.

This is the consent's clock. The CNIL's three years for prospects
(consent.retention) is the contact's clock — the time since the person last
acted — and any re-consent, renewal or "keep me" answer is such an act, so
both restart together; a purpose's validity can only make a consent end
sooner, never keep data longer than retention allows.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from consent import notices, reconsent, suppression
from consent.ledger import chain, states
from consent.requests import deadlines
from optinbase import audit, db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field
from optinbase.settings import get_settings
from tenants.repository import TenantRecord

REMINDER_DAYS = 30
BATCH = 1000

_UNDATED = (
    "SELECT s.id, s.since, p.validity_months FROM consent_state s"
    " JOIN purpose p ON p.tenant_id = s.tenant_id AND p.id = s.purpose_id"
    " WHERE s.tenant_id = {} AND s.status = 'granted' AND s.expires_at IS NULL"
    f" AND p.validity_months IS NOT NULL ORDER BY s.id LIMIT {BATCH}"
)
_LAPSED = (
    "SELECT contact_id, channel, purpose_id FROM consent_state WHERE tenant_id = {}"
    f" AND status = 'granted' AND expires_at <= {{}} ORDER BY id LIMIT {BATCH}"
)
_TO_REMIND = (
    "SELECT s.id, s.channel, s.expires_at, s.purpose_id, p.name, s.contact_id,"
    " c.email, c.locale, c.language FROM consent_state s"
    " JOIN purpose p ON p.tenant_id = s.tenant_id AND p.id = s.purpose_id"
    " JOIN contact c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id"
    " WHERE s.tenant_id = {} AND s.status = 'granted' AND s.expires_at > {}"
    " AND s.expires_at <= {} AND s.reminded_at IS NULL AND c.email IS NOT NULL"
    f" AND c.restricted_at IS NULL AND {suppression.exclusion_sql('c')}"
    f" ORDER BY s.id LIMIT {BATCH}"
)


def reminder_days(tenant: TenantRecord) -> int:
    value = tenant.settings.get("expiry_reminder_days")
    return REMINDER_DAYS if value is None else int(value)


async def run(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    """One worker turn for one tenant: dates undated grants, writes `expired`
    for lapsed ones, sends the reminders due. Returns how much it did."""
    done = 0
    for row in await db.fetch(_UNDATED, ctx.tenant_id):
        await db.execute("UPDATE consent_state SET expires_at = {} WHERE tenant_id = {}"
                         " AND id = {}", deadlines.add_months(row["since"], int(row["validity_months"])),
                         ctx.tenant_id, row["id"])
        done += 1
    lapsed = await db.fetch(_LAPSED, ctx.tenant_id, now)
    await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=r["contact_id"], channel=r["channel"],
        purpose_id=r["purpose_id"], action="expired", method="expiry",
        collected_at=now, recorded_at=now, source="validity period over", actor="system")
        for r in lapsed])
    return done + len(lapsed) + await remind(ctx, tenant, now)


async def remind(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    days = reminder_days(tenant)
    if days <= 0:
        return 0
    settings = get_settings()
    rows = await db.fetch(_TO_REMIND, ctx.tenant_id, now, now + dt.timedelta(days=days),
                          "email", "email")
    for row in rows:
        language = i18n.choose(tenant, person=(row["locale"], row["language"]))
        notice = await reconsent.latest_notice(ctx, row["purpose_id"], row["channel"], language)
        if notice is not None:
            await reconsent.ask(
                ctx, tenant, [({**dict(row), "id": row["contact_id"]}, row["expires_at"])],
                purpose={"id": row["purpose_id"], "name": row["name"]}, channel=row["channel"],
                notice_id=notice["id"], reason="expiry", now=now,
                secret_key=settings.secret_key, public_url=settings.public_url)
        await db.execute("UPDATE consent_state SET reminded_at = {} WHERE tenant_id = {}"
                         " AND id = {}", now, ctx.tenant_id, row["id"])
    return len(rows)


class ReconsentRequired(msgspec.Struct, kw_only=True):
    notice_id: uuid.UUID
    version: int
    expires_at: dt.datetime
    affected: int


async def require_reconsent(ctx: TenantContext, notice_id: uuid.UUID,
                            expires_at: dt.datetime) -> ReconsentRequired:
    """Grants of the notice's purpose, on its channels, given under an older
    version (or no notice) lapse on `expires_at` (sooner ones keep theirs)."""
    notice = await notices.find_notice(ctx, notice_id)
    if notice is None:
        raise NotFound("notice not found")
    now = dt.datetime.now(dt.timezone.utc)
    if expires_at.tzinfo is None or expires_at <= now:
        raise invalid_field("expires_at", "must be a future time with its zone")
    channels = list(notice["channels"])
    marks = ", ".join("{}" for _ in channels)
    affected = await db.fetch(
        "SELECT s.id FROM consent_state s WHERE s.tenant_id = {} AND s.purpose_id = {}"
        f" AND s.channel IN ({marks}) AND s.status = 'granted'"
        " AND (s.expires_at IS NULL OR s.expires_at > {})"
        " AND COALESCE((SELECT n.version FROM consent_event e JOIN notice n"
        " ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
        " WHERE e.tenant_id = s.tenant_id AND e.id = s.event_id), 0) < {}",  # as segments'
        ctx.tenant_id, notice["purpose_id"], *channels, expires_at, int(notice["version"]))
    for row in affected:
        await db.execute("UPDATE consent_state SET expires_at = {}, reminded_at = NULL"
                         " WHERE tenant_id = {} AND id = {}", expires_at, ctx.tenant_id,
                         row["id"])
    await audit.record(ctx, "notice.reconsent_required", "notice", notice_id,
                       {"version": int(notice["version"]), "expires_at": expires_at.isoformat(),
                        "affected": len(affected)})
    return ReconsentRequired(notice_id=notice_id, version=int(notice["version"]),
                             expires_at=expires_at, affected=len(affected))
