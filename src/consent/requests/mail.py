"""E-mails about data-subject requests, in the person's language (fr, en): the
request's `locale` (the form's language, or what the integrator gave), else
the tenant's default — decided once per e-mail by optinbase.i18n.choose. Texts
are the catalogues' `mail.request.*` messages; dates are in the tenant's time
zone.

The verification e-mail reads the same whether or not the address is in the
base: an unverified request must never tell anyone that. Links are plain URLs
in the body (API.md); nothing here carries more personal data than the address
it is sent to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

from consent import contacts
from consent.requests import links
from consent.requests.schemas import KIND_NAMES
from messaging.branded import DPO
from messaging.outbox import STANDARD, TRANSACTIONAL, enqueue_email
from optinbase import i18n
from optinbase.i18n import N_
from tenants.repository import TenantRecord

# Each e-mail's subject and body (messages of optinbase.i18n's catalogues).
MAILS = {
    "verify": (N_("mail.request.verify.subject"), N_("mail.request.verify.body")),
    "extended": (N_("mail.request.extended.subject"), N_("mail.request.extended.body")),
    "completed": (N_("mail.request.completed.subject"), N_("mail.request.completed.body")),
    "rejected": (N_("mail.request.rejected.subject"), N_("mail.request.rejected.body")),
}
# What happened, as the person is told (consent.requests.execution's outcome keys).
OUTCOMES = {
    "package": N_("request.outcome.package"), "no_data": N_("request.outcome.no_data"),
    "erased": N_("request.outcome.erased"), "withdrawn": N_("request.outcome.withdrawn"),
    "no_marketing": N_("request.outcome.no_marketing"),
    "restricted": N_("request.outcome.restricted"), "rectified": N_("request.outcome.rectified"),
}

STATUS_LINK_LIFETIME = dt.timedelta(days=400)


def person_of(request: Any) -> tuple[Optional[str]]:
    """Whom a request's e-mails and pages speak to: the locale it was made in."""
    return (request["locale"],)


def language_of(request: Any, tenant: TenantRecord) -> str:
    """The language of everything about this request: the person's."""
    return i18n.choose(tenant, person=person_of(request))


def texts_for(request: Any, tenant: TenantRecord) -> i18n.Texts:
    """The person's texts, chosen once for all that one step tells them (the
    e-mail, the outcome kept on the request, the package paragraph)."""
    return i18n.texts(language_of(request, tenant), tenant)


def status_url(secret_key: str, public_url: str, tenant_id: uuid.UUID, request: Any) -> str:
    token = links.make(secret_key, "status", tenant_id, request["id"],
                       request["received_at"] + STATUS_LINK_LIFETIME)
    return f"{public_url}/p/requests/status/{token}"


async def send(tenant: TenantRecord, request: Any, to: str, which: str, *, secret_key: str,
               public_url: str, texts: i18n.Texts | None = None, **values: Any) -> None:
    texts = texts or texts_for(request, tenant)
    subject, body = MAILS[which]
    values = {"tenant": tenant.name, "kind": texts(KIND_NAMES[request["kind"]]),
              "status": status_url(secret_key, public_url, tenant.id, request), **values}
    await enqueue_email(tenant.id, to=to, subject=texts(subject, **values),
                        text=texts(body, **values), contact_id=request["contact_id"],
                        headers={"Content-Language": texts.language},
                        priority=TRANSACTIONAL if which == "verify" else STANDARD, sender=DPO)


async def restriction_lifted(tenant: TenantRecord, contact: Any) -> None:
    """GDPR Art. 18(3): the person is told when a restriction is lifted."""
    language = i18n.choose(tenant, person=contacts.locales(contact))
    texts = i18n.texts(language, tenant)
    await enqueue_email(tenant.id, to=contact["email"],
                        subject=texts.gettext("mail.request.lifted.subject", tenant=tenant.name),
                        text=texts.gettext("mail.request.lifted.body", tenant=tenant.name),
                        contact_id=contact["id"], headers={"Content-Language": language},
                        sender=DPO)
