"""E-mails about data-subject requests, in the person's language (fr, en).

The verification e-mail reads the same whether or not the address is in the
base: an unverified request must never tell anyone that. Links are plain URLs
in the body (API.md); nothing here carries more personal data than the address
it is sent to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

from consent.requests import links
from messaging.outbox import STANDARD, TRANSACTIONAL, enqueue_email
from tenants.repository import TenantRecord

KIND_NAMES = {
    "fr": {"access": "accès à vos données", "portability": "portabilité de vos données",
           "rectification": "rectification", "erasure": "effacement",
           "withdrawal": "retrait de vos consentements",
           "objection": "opposition à la prospection", "restriction": "limitation du traitement"},
    "en": {"access": "access to your data", "portability": "data portability",
           "rectification": "rectification", "erasure": "erasure",
           "withdrawal": "withdrawal of your consents",
           "objection": "objection to direct marketing", "restriction": "restriction of processing"},
}

_TEXTS = {
    "fr": {
        "verify": ("Confirmez votre demande — {tenant}",
                   "Bonjour,\n\n{tenant} a reçu une demande ({kind}) concernant cette adresse.\n"
                   "Pour confirmer qu'elle vient de vous, ouvrez ce lien puis appuyez sur"
                   " « Confirmer » :\n\n{link}\n\nCe lien expire le {expires}. Si vous n'êtes pas"
                   " à l'origine de cette demande, ignorez ce message : rien ne sera fait.\n\n"
                   "Suivre la demande : {status}\n"),
        "extended": ("Votre demande ({kind}) — {tenant} : délai prolongé",
                     "Bonjour,\n\n{tenant} a besoin de plus de temps pour traiter votre demande"
                     " ({kind}). Nouvelle échéance : {due}.\nMotif : {reason}\n\n"
                     "Suivre la demande : {status}\n"),
        "completed": ("Votre demande ({kind}) — {tenant} : traitée",
                      "Bonjour,\n\n{tenant} a traité votre demande ({kind}).\n{outcome}\n"
                      "Suivre la demande : {status}\n"),
        "package": ("Vos données sont prêtes à télécharger jusqu'au {expires} :\n\n{link}\n"),
        "lifted": ("{tenant} : fin de la limitation du traitement",
                   "Bonjour,\n\nLa limitation du traitement de vos données que vous aviez"
                   " obtenue auprès de {tenant} prend fin : elles peuvent de nouveau être"
                   " utilisées, dans le respect de vos choix.\n\nVous pouvez à tout moment"
                   " faire une nouvelle demande.\n"),
        "rejected": ("Votre demande ({kind}) — {tenant} : refusée",
                     "Bonjour,\n\n{tenant} ne peut pas donner suite à votre demande ({kind}).\n"
                     "Motif : {reason}\n\nVous pouvez introduire une réclamation auprès d'une"
                     " autorité de contrôle (en France, la CNIL) et former un recours"
                     " juridictionnel.\n\nSuivre la demande : {status}\n"),
    },
    "en": {
        "verify": ("Confirm your request — {tenant}",
                   "Hello,\n\n{tenant} received a request ({kind}) about this address.\n"
                   "To confirm that it comes from you, open this link and press \"Confirm\":"
                   "\n\n{link}\n\nThe link expires on {expires}. If you did not make this"
                   " request, ignore this message: nothing will be done.\n\n"
                   "Follow the request: {status}\n"),
        "extended": ("Your request ({kind}) — {tenant}: more time needed",
                     "Hello,\n\n{tenant} needs more time to handle your request ({kind})."
                     " New date: {due}.\nReason: {reason}\n\nFollow the request: {status}\n"),
        "completed": ("Your request ({kind}) — {tenant}: done",
                      "Hello,\n\n{tenant} has handled your request ({kind}).\n{outcome}\n"
                      "Follow the request: {status}\n"),
        "package": ("Your data is ready to download until {expires}:\n\n{link}\n"),
        "lifted": ("{tenant}: the restriction of processing ends",
                   "Hello,\n\nThe restriction of processing of your data that you obtained"
                   " from {tenant} ends: it may be used again, within the choices you"
                   " made.\n\nYou may make a new request at any time.\n"),
        "rejected": ("Your request ({kind}) — {tenant}: refused",
                     "Hello,\n\n{tenant} cannot act on your request ({kind}).\n"
                     "Reason: {reason}\n\nYou may lodge a complaint with a supervisory"
                     " authority and seek a judicial remedy.\n\nFollow the request: {status}\n"),
    },
}

OUTCOMES = {
    "fr": {"package": "Vos données figurent dans le fichier à télécharger ci-dessous.",
           "no_data": "Nous ne détenons aucune donnée personnelle vous concernant.",
           "erased": "Vos données personnelles ont été effacées.",
           "withdrawn": "Tous les consentements que vous nous aviez donnés sont retirés.",
           "no_marketing": "Vous ne recevrez plus de prospection de notre part.",
           "restricted": "Vos données sont conservées mais ne sont plus utilisées tant que la"
                         " limitation dure.",
           "rectified": "Vos données ont été corrigées."},
    "en": {"package": "Your data is in the package linked below.",
           "no_data": "We hold no personal data about you.",
           "erased": "Your personal data has been erased.",
           "withdrawn": "Every consent you had given us is withdrawn.",
           "no_marketing": "You will not receive direct marketing from us.",
           "restricted": "Your data is kept but no longer used while the restriction lasts.",
           "rectified": "Your data has been corrected."},
}

STATUS_LINK_LIFETIME = dt.timedelta(days=400)


def language_of(locale: Optional[str], tenant: TenantRecord) -> str:
    for candidate in (locale, tenant.settings.get("default_locale")):
        if candidate and candidate[:2].lower() in _TEXTS:
            return candidate[:2].lower()
    return "en"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def status_url(secret_key: str, public_url: str, tenant_id: uuid.UUID, request: Any) -> str:
    token = links.make(secret_key, "status", tenant_id, request["id"],
                       request["received_at"] + STATUS_LINK_LIFETIME)
    return f"{public_url}/p/requests/status/{token}"


async def send(tenant: TenantRecord, request: Any, to: str, which: str, *, secret_key: str,
               public_url: str, **values: Any) -> None:
    language = language_of(request["locale"], tenant)
    subject, text = _TEXTS[language][which]
    values = {"tenant": tenant.name, "kind": KIND_NAMES[language][request["kind"]],
              "status": status_url(secret_key, public_url, tenant.id, request), **values}
    values = {k: _when(v) if isinstance(v, dt.datetime) else v for k, v in values.items()}
    await enqueue_email(tenant.id, to=to, subject=subject.format(**values),
                        text=text.format(**values), contact_id=request["contact_id"],
                        headers={"Content-Language": language},
                        priority=TRANSACTIONAL if which == "verify" else STANDARD)


async def restriction_lifted(tenant: TenantRecord, contact: Any) -> None:
    """GDPR Art. 18(3): the person is told when a restriction is lifted."""
    language = language_of(contact["locale"] or contact["language"], tenant)
    subject, text = _TEXTS[language]["lifted"]
    await enqueue_email(tenant.id, to=contact["email"], subject=subject.format(tenant=tenant.name),
                        text=text.format(tenant=tenant.name), contact_id=contact["id"],
                        headers={"Content-Language": language})


def outcome_text(request: Any, tenant: TenantRecord, key: str) -> str:
    return OUTCOMES[language_of(request["locale"], tenant)][key]


def package_paragraph(request: Any, tenant: TenantRecord, link: str, expires: dt.datetime) -> str:
    return _TEXTS[language_of(request["locale"], tenant)]["package"].format(
        link=link, expires=_when(expires))
