"""Keeping data no longer than needed (CNIL: three years after the last contact
from the person, for prospects), and the other things that must not linger.

Per tenant, each run:
* re-permission — a contact inactive for `retention_months` (default 36) gets
  one e-mail asking whether to stay, with a "keep me" link; a contact with no
  address just starts the same wait;
* erasure — one who did not act within `repermission_days` (default 30) of it
  is erased; without a suppression entry, since they never objected and may
  subscribe again;
* unconfirmed double opt-ins — a person whose every consent is an expired,
  never confirmed request is erased once the confirmation lifetime is over;
* packages — access packages past their expiry are dropped;
* requests — one never verified lapses a week after its link ran out (before
  it could ever show as overdue), and keeps only the keyed hash of the address.
Contacts with an open request (by contact link or by the hash of the address
they gave, verified or not) or a restriction (Art. 18) are never purged.
`plan` only reads (what `optinbase retention --dry-run` lists); `apply` acts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from consent import contacts
from consent.erasure import erase_contact
from consent.journey.double_opt_in import lifetime
from consent.requests import deadlines, links
from consent.requests.intake import verify_hours
from consent.requests.records import OPEN_SQL, LinkGone, record_event
from consent.requests.scrub import lapse
from messaging.outbox import BULK, enqueue_email
from optinbase import audit, db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound
from optinbase.i18n import N_
from optinbase.settings import get_settings
from tenants.repository import TenantRecord

RETENTION_MONTHS = 36
REPERMISSION_DAYS = 30
LAPSE_AFTER = dt.timedelta(days=7)
BATCH = 1000

_LAST_SEEN = "COALESCE(c.last_activity_at, c.created_at)"
_PURGEABLE = (
    " AND c.restricted_at IS NULL AND NOT EXISTS (SELECT 1 FROM data_subject_request r"
    "  WHERE r.tenant_id = c.tenant_id"
    "  AND (r.contact_id = c.id OR r.subject_hash IN (c.email_hash, c.phone_hash))"
    f"  AND r.status IN {OPEN_SQL})"
)
# Inactive, and not asked since their last activity.
TO_ASK = (
    f"SELECT c.id, c.email, c.locale, c.language, {_LAST_SEEN} AS last_seen FROM contact c"
    f" WHERE c.tenant_id = {{}} AND {_LAST_SEEN} < {{}}"
    f" AND (c.repermission_sent_at IS NULL OR c.repermission_sent_at < {_LAST_SEEN})"
    f"{_PURGEABLE} ORDER BY c.id LIMIT {BATCH}"
)
# Asked, and silent since, for longer than the delay.
TO_ERASE = (
    f"SELECT c.id, {_LAST_SEEN} AS last_seen, c.repermission_sent_at FROM contact c"
    f" WHERE c.tenant_id = {{}} AND c.repermission_sent_at < {{}}"
    f" AND c.repermission_sent_at >= {_LAST_SEEN}{_PURGEABLE} ORDER BY c.id LIMIT {BATCH}"
)
# Never confirmed anything; every request expired.
UNCONFIRMED = (
    "SELECT c.id, c.created_at AS last_seen FROM contact c"
    " WHERE c.tenant_id = {} AND c.created_at < {}"
    " AND EXISTS (SELECT 1 FROM consent_state s WHERE s.tenant_id = c.tenant_id"
    "  AND s.contact_id = c.id AND s.status = 'expired')"
    " AND NOT EXISTS (SELECT 1 FROM consent_state s WHERE s.tenant_id = c.tenant_id"
    "  AND s.contact_id = c.id AND s.status <> 'expired')"
    " AND NOT EXISTS (SELECT 1 FROM consent_event e WHERE e.tenant_id = c.tenant_id"
    "  AND e.contact_id = c.id AND e.action IN ('granted', 'confirmed'))"
    f"{_PURGEABLE} ORDER BY c.id LIMIT {BATCH}"
)
EXPIRED_PACKAGES = (
    "SELECT id, package_expires_at FROM data_subject_request WHERE tenant_id = {}"
    " AND package IS NOT NULL AND package_expires_at < {} ORDER BY id"
)
UNVERIFIED_LAPSING = (
    "SELECT id, received_at FROM data_subject_request WHERE tenant_id = {}"
    " AND status = 'unverified' AND received_at < {} ORDER BY id"
)


@dataclass
class Item:
    id: uuid.UUID
    why: str


@dataclass
class Plan:
    tenant: TenantRecord
    now: dt.datetime
    ask: list[Item] = field(default_factory=list)
    erase: list[Item] = field(default_factory=list)
    unconfirmed: list[Item] = field(default_factory=list)
    packages: list[Item] = field(default_factory=list)
    lapsing: list[Item] = field(default_factory=list)
    emails: dict[uuid.UUID, str] = field(default_factory=dict)
    languages: dict[uuid.UUID, str] = field(default_factory=dict)  # of those e-mailed

    def lines(self) -> list[str]:
        rows = []
        for action, items in (("re-permission", self.ask), ("erase", self.erase),
                              ("purge-unconfirmed", self.unconfirmed),
                              ("drop-package", self.packages), ("lapse-request", self.lapsing)):
            rows += [f"{self.tenant.slug}\t{action}\t{item.id}\t{item.why}" for item in items]
        return rows


def _day(moment: Any) -> str:
    if isinstance(moment, str):  # SQLite hands COALESCE(...) back as text
        return moment[:10]
    return moment.strftime("%Y-%m-%d") if moment else "-"


def settings_of(tenant: TenantRecord) -> tuple[int, int, dt.timedelta]:

    return (int(tenant.settings.get("retention_months") or RETENTION_MONTHS),
            int(tenant.settings.get("repermission_days") or REPERMISSION_DAYS),
            lifetime(tenant))


async def plan(tenant: TenantRecord, now: dt.datetime) -> Plan:
    """What is due, read in the caller's transaction for this tenant."""
    months, days, confirm_lifetime = settings_of(tenant)
    result = Plan(tenant, now)
    for row in await db.fetch(TO_ERASE, tenant.id, now - dt.timedelta(days=days)):
        result.erase.append(Item(row["id"], f"inactive since {_day(row['last_seen'])},"
                                 f" asked {_day(row['repermission_sent_at'])}"))
    erased = {item.id for item in result.erase}
    for row in await db.fetch(UNCONFIRMED, tenant.id, now - confirm_lifetime):
        if row["id"] in erased:
            continue
        result.unconfirmed.append(Item(row["id"],
                                       f"never confirmed, since {_day(row['last_seen'])}"))
    purged = {item.id for item in result.unconfirmed}
    for row in await db.fetch(TO_ASK, tenant.id, deadlines.add_months(now, -months)):
        if row["id"] in purged:  # going anyway: no point asking
            continue
        result.ask.append(Item(row["id"], f"inactive since {_day(row['last_seen'])}"))
        if row["email"]:
            result.emails[row["id"]] = row["email"]
            result.languages[row["id"]] = i18n.choose(
                tenant, person=contacts.locales(row))
    for row in await db.fetch(EXPIRED_PACKAGES, tenant.id, now):
        result.packages.append(Item(row["id"],
                                    f"expired {_day(row['package_expires_at'])}"))
    for row in await db.fetch(UNVERIFIED_LAPSING, tenant.id,
                              now - dt.timedelta(hours=verify_hours(tenant)) - LAPSE_AFTER):
        result.lapsing.append(Item(row["id"],
                                   f"not verified, received {_day(row['received_at'])}"))
    return result


async def apply(ctx: TenantContext, due: Plan, *, secret_key: str, public_url: str) -> dict[str, int]:
    """Acts on a plan in the caller's transaction; returns counts per action."""

    _, days, _ = settings_of(due.tenant)
    until = due.now + dt.timedelta(days=days)
    for item in due.ask:
        await db.execute("UPDATE contact SET repermission_sent_at = {} WHERE tenant_id = {}"
                         " AND id = {}", due.now, ctx.tenant_id, item.id)
        email = due.emails.get(item.id)
        if email:
            token = links.make(secret_key, "keep", ctx.tenant_id, item.id, until)
            language = due.languages[item.id]
            texts = i18n.texts(language, due.tenant)
            await enqueue_email(
                ctx.tenant_id, to=email, contact_id=item.id, priority=BULK,
                subject=texts.gettext("mail.keep.subject", tenant=due.tenant.name),
                text=texts.gettext("mail.keep.body", tenant=due.tenant.name, until=until,
                                   link=f"{public_url}/p/keep/{token}"),
                headers={"Content-Language": language})
    for item in due.erase + due.unconfirmed:
        await erase_contact(ctx, item.id, suppress=False)
    for item in due.packages:
        await db.execute("UPDATE data_subject_request SET package = NULL WHERE tenant_id = {}"
                         " AND id = {}", ctx.tenant_id, item.id)
        await record_event(ctx, item.id, "package_expired")
    for item in due.lapsing:
        await lapse(ctx, item.id, due.now, "identity never verified")
    return {"re-permission": len(due.ask), "erased": len(due.erase),
            "unconfirmed purged": len(due.unconfirmed), "packages dropped": len(due.packages),
            "requests lapsed": len(due.lapsing)}


async def keep(ctx: TenantContext, contact_id: uuid.UUID, now: dt.datetime) -> bool:
    """The person pressed "Stay": that is activity, and the clock starts again."""
    exists = await db.fetchval("SELECT count(*) FROM contact WHERE tenant_id = {} AND id = {}",
                               ctx.tenant_id, contact_id)
    if not exists:
        return False
    await db.execute("UPDATE contact SET last_activity_at = {}, repermission_sent_at = NULL"
                     " WHERE tenant_id = {} AND id = {}", now, ctx.tenant_id, contact_id)
    await audit.record(ctx, "contact.kept", "contact", contact_id, {"by": "re-permission link"})
    return True


async def retain(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime,
                 dry_run: bool = False) -> list[str]:
    """For one tenant: plans, and unless dry_run acts. Returns the plan's lines
    (dry run) or a summary line when something was done."""
    due = await plan(tenant, now)
    if dry_run:
        return due.lines()
    settings = get_settings()
    counts = await apply(ctx, due, secret_key=settings.secret_key, public_url=settings.public_url)
    if not any(counts.values()):
        return []
    return [f"{tenant.slug}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)]


class KeepView(msgspec.Struct, kw_only=True):
    """The re-permission page: `state` ask (button) | kept."""

    state: str
    tenant: str
    language: str


async def keep_page(ctx: TenantContext, tenant: TenantRecord, token: str, *,
                    confirm: bool) -> KeepView:
    """The "stay" link of the re-permission e-mail: GET asks, only POST keeps.
    In the person's language, error pages included."""
    link = links.open_for(ctx, token, "keep")
    now = dt.datetime.now(dt.timezone.utc)
    contact = await db.fetchrow("SELECT locale, language FROM contact WHERE tenant_id = {}"
                                " AND id = {}", ctx.tenant_id, link.subject_id)
    person = None if contact is None else contacts.locales(contact)
    if link.expires_at <= now:
        raise LinkGone("this link has expired", msgid=N_("error.link_expired"), person=person)
    found = contact is not None and (not confirm or await keep(ctx, link.subject_id, now))
    if not found:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return KeepView(state="kept" if confirm else "ask", tenant=tenant.name,
                    language=i18n.choose(tenant, person=person))
