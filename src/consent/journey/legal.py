"""What every subscriber page must tell the person (GDPR Art. 13, CNIL): who
the controller is and how to reach its DPO, each purpose with the notice
the person agrees to and the partners named on it, how long data is kept,
their rights and how to use them, that consent can be withdrawn at any time
and how, the privacy policy, and the right to complain to the CNIL.

`about` is read from the tenant alone (it also serves the error page, which
has no transaction); `purposes` reads the notices the tenant offers now, with
their named partners (stored on the notice, CNIL: partners are named at
collection). The partial template `_legal.html` shows both."""

from __future__ import annotations

from typing import Any, Optional

import msgspec

from consent.journey.subscription import offers
from consent.retention import RETENTION_MONTHS
from optinbase import db
from optinbase.context import TenantContext
from tenants.branding import web_url

# GDPR Art. 77 / Art. 13(2)(d): the French supervisory authority's complaint page.
CNIL_COMPLAINTS = "https://www.cnil.fr/fr/plaintes"


class About(msgspec.Struct, kw_only=True):
    controller: str  # legal name, else the tenant's name
    address: str
    dpo_name: str
    dpo_email: str
    dpo_address: str
    policy_url: str
    retention_months: int
    requests_url: str  # the data-subject request form: how rights are exercised
    subscribe_url: str
    complaint_url: str = CNIL_COMPLAINTS


class PurposeInfo(msgspec.Struct, kw_only=True):
    purpose: str
    name: str
    description: str
    notice_text: str
    notice_language: str
    channels: list[str]
    partners: list[str]
    policy_url: str


def about(tenant: Optional[Any]) -> Optional[About]:
    """The controller block of `tenant` (a TenantRecord); None without a tenant."""
    if tenant is None:
        return None
    settings = tenant.settings or {}
    return About(
        controller=tenant.legal_name or tenant.name,
        address=str(settings.get("address") or ""),
        dpo_name=str(settings.get("dpo_name") or ""),
        dpo_email=tenant.dpo_email or "",
        dpo_address=str(settings.get("dpo_address") or ""),
        policy_url=web_url(settings.get("policy_url")),
        retention_months=int(settings.get("retention_months") or RETENTION_MONTHS),
        requests_url=f"/p/{tenant.slug}/requests",
        subscribe_url=f"/p/{tenant.slug}/subscribe",
    )


def _names(value: Any) -> list[str]:
    return [str(v) for v in value or []]


async def purposes(ctx: TenantContext, language: str) -> list[PurposeInfo]:
    """Each purpose on offer, with the notice shown in `language` when one
    exists (the same choice as the form's) and the partners it names."""
    current = await offers(ctx, language)
    extra = {r["id"]: r for r in await db.fetch(
        "SELECT id, partners, policy_url FROM notice WHERE tenant_id = {}", ctx.tenant_id)}
    result = []
    for offer in current:
        row = extra.get(offer.notice_id)
        result.append(PurposeInfo(
            purpose=offer.purpose, name=offer.purpose_name, description=offer.description or "",
            notice_text=offer.notice_text, notice_language=offer.notice_language,
            channels=offer.channels, partners=_names(row["partners"]) if row else [],
            policy_url=web_url(row["policy_url"]) if row else ""))
    return result


async def partners_of(ctx: TenantContext) -> dict[Any, list[str]]:
    """The partners each notice of the tenant names, by notice id: a form
    definition pins its notices, so its page names the partners of those
    (CNIL: partners are named where consent is collected)."""
    return {r["id"]: _names(r["partners"]) for r in await db.fetch(
        "SELECT id, partners FROM notice WHERE tenant_id = {}", ctx.tenant_id)}
