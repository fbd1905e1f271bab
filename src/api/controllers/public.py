"""Public pages reached from e-mails: server-rendered, no JavaScript, no login.
JSON instead of HTML when asked with `Accept: application/json`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from api.params import Path
from consent import journey
from optinbase.errors import DomainError

TEXTS: dict[str, dict[str, Any]] = {
    "fr": {
        "confirm_title": "Confirmer votre inscription",
        "confirm_intro": "Vous avez demandé à recevoir « {purpose} » de {tenant} par {channel}.",
        "notice_shown": "Le texte qui vous a été présenté :",
        "confirm_button": "Confirmer",
        "confirm_ignore": "Si vous n'êtes pas à l'origine de cette demande, fermez simplement cette page.",
        "confirmed": "Merci : votre inscription à « {purpose} » de {tenant} est confirmée.",
        "expired": "Ce lien a expiré. Inscrivez-vous à nouveau pour recevoir un nouveau lien.",
        "replaced": "Ce lien n'est plus valable : la demande a été remplacée ou retirée.",
        "unsubscribe_title": "Se désinscrire",
        "unsubscribe_intro": "Ne plus recevoir « {purpose} » de {tenant} par {channel} ?",
        "unsubscribe_button": "Me désinscrire",
        "unsubscribed": "C'est fait : vous ne recevrez plus « {purpose} » de {tenant} par {channel}.",
        "error_title": "Lien non valable",
        "channels": {"email": "e-mail", "sms": "SMS", "phone": "téléphone", "postal": "courrier",
                     "social_ads": "publicité sur les réseaux sociaux", "push": "notification"},
    },
    "en": {
        "confirm_title": "Confirm your subscription",
        "confirm_intro": "You asked to receive \u201c{purpose}\u201d from {tenant} by {channel}.",
        "notice_shown": "The text you were shown:",
        "confirm_button": "Confirm",
        "confirm_ignore": "If you did not ask for this, just close this page.",
        "confirmed": "Thank you: your subscription to \u201c{purpose}\u201d from {tenant} is confirmed.",
        "expired": "This link has expired. Subscribe again to get a new one.",
        "replaced": "This link is no longer valid: the request was replaced or withdrawn.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_intro": "Stop receiving \u201c{purpose}\u201d from {tenant} by {channel}?",
        "unsubscribe_button": "Unsubscribe me",
        "unsubscribed": "Done: you will no longer receive \u201c{purpose}\u201d from {tenant} by {channel}.",
        "error_title": "Invalid link",
        "channels": {"email": "e-mail", "sms": "SMS", "phone": "phone", "postal": "post",
                     "social_ads": "social media advertising", "push": "notification"},
    },
}

_STATUS = {"expired": 410, "replaced": 410}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _client(request: Request) -> tuple[str | None, str | None]:
    return (request.client.host if request.client else None,
            request.headers.get("user-agent"))


def _page(request: Request, template: str, title_key: str, view: journey.LinkView) -> Response:
    status = _STATUS.get(view.state, 200)
    if _wants_json(request):
        return Response(msgspec.to_builtins(view), status_code=status)
    texts = TEXTS.get(view.language, TEXTS["en"])
    return Template(template_name=template, status_code=status,
                    context={"view": view, "t": texts, "lang": view.language,
                             "title": texts[title_key]})


def _error(request: Request, error: DomainError) -> Response:
    if _wants_json(request):
        return Response({"status": error.status, "detail": error.detail}, status_code=error.status)
    texts = TEXTS["en"] if "fr" not in request.headers.get("accept-language", "") else TEXTS["fr"]
    return Template(template_name="error.html", status_code=error.status,
                    context={"view": None, "lang": "fr" if texts is TEXTS["fr"] else "en",
                             "title": texts["error_title"], "message": error.detail})


class PublicPages(Controller):
    path = "/p"
    include_in_schema = False

    @get("/confirm/{token:str}")
    async def show_confirm(self, request: Request, token: Path[str]) -> Response:
        try:
            return _page(request, "confirm.html", "confirm_title",
                         await journey.show_confirmation(token))
        except DomainError as error:
            return _error(request, error)

    @post("/confirm/{token:str}", status_code=200)
    async def confirm(self, request: Request, token: Path[str]) -> Response:
        try:
            ip, agent = _client(request)
            return _page(request, "confirm.html", "confirm_title",
                         await journey.confirm(token, ip, agent))
        except DomainError as error:
            return _error(request, error)

    @get("/unsubscribe/{token:str}")
    async def show_unsubscribe(self, request: Request, token: Path[str]) -> Response:
        try:
            return _page(request, "unsubscribe.html", "unsubscribe_title",
                         await journey.show_unsubscribe(token))
        except DomainError as error:
            return _error(request, error)

    # RFC 8058: mail clients POST `List-Unsubscribe=One-Click` with no cookie,
    # no JavaScript, no confirmation step; the page's own button posts the same.
    @post("/unsubscribe/{token:str}", status_code=200)
    async def unsubscribe(self, request: Request, token: Path[str]) -> Response:
        try:
            ip, agent = _client(request)
            return _page(request, "unsubscribe.html", "unsubscribe_title",
                         await journey.unsubscribe(token, ip, agent))
        except DomainError as error:
            return _error(request, error)
