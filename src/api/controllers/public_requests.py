"""Public data-subject request pages: the form, verification (GET shows, only
POST verifies), status and package download. Work without JavaScript; JSON
when asked with `Accept: application/json`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from api.controllers.public import (
    RateLimiter,
    client_of,
    error_page,
    sends_json,
    wants_json,
)
from api.params import Path
from consent import retention
from consent.requests import public
from optinbase.errors import DomainError

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "form_title": "Vos données personnelles : faire une demande",
        "form_intro": "Vous pouvez demander à {tenant} d'accéder à vos données, de les corriger,"
                      " de les effacer, de retirer vos consentements, de vous opposer à la"
                      " prospection ou de limiter leur utilisation. Nous vous répondons dans un"
                      " délai d'un mois.",
        "kind_label": "Votre demande",
        "email_label": "Votre adresse e-mail (nous y enverrons un lien de confirmation)",
        "note_label": "Précisions (facultatif ; pour une rectification, dites ce qui doit changer)",
        "send": "Envoyer ma demande",
        "sent": "Merci. Si cette adresse est la vôtre, vous allez recevoir un e-mail : ouvrez le"
                " lien qu'il contient pour confirmer votre demande.",
        "verify_title": "Confirmer votre demande",
        "verify_intro": "Confirmez-vous votre demande ({kind}) auprès de {tenant} ?",
        "verify_button": "Confirmer",
        "status_title": "Votre demande",
        "received": "Reçue le", "due": "Réponse au plus tard le",
        "state_unverified": "En attente de votre confirmation.",
        "state_verified": "Confirmée ; elle est en cours de traitement.",
        "state_completed": "Traitée.",
        "state_rejected": "Refusée.",
        "state_lapsed": "Non confirmée à temps ; elle a été classée.",
        "download": "Télécharger mes données", "until": "jusqu'au",
        "too_many": "Trop de demandes depuis cette adresse ; réessayez plus tard.",
        "keep_title": "Rester en contact",
        "keep_intro": "Souhaitez-vous que {tenant} garde vos coordonnées et continue à vous écrire ?",
        "keep_button": "Rester",
        "kept": "Merci : {tenant} garde vos coordonnées.",
    },
    "en": {
        "form_title": "Your personal data: make a request",
        "form_intro": "You can ask {tenant} to give you access to your data, correct it, erase"
                      " it, withdraw your consents, object to direct marketing or restrict how"
                      " it is used. We answer within one month.",
        "kind_label": "Your request",
        "email_label": "Your e-mail address (we will send a confirmation link to it)",
        "note_label": "Details (optional; for a rectification, say what should change)",
        "send": "Send my request",
        "sent": "Thank you. If this address is yours, you will receive an e-mail: open the link"
                " in it to confirm your request.",
        "verify_title": "Confirm your request",
        "verify_intro": "Do you confirm your request ({kind}) to {tenant}?",
        "verify_button": "Confirm",
        "status_title": "Your request",
        "received": "Received on", "due": "Answer due by",
        "state_unverified": "Waiting for your confirmation.",
        "state_verified": "Confirmed; it is being handled.",
        "state_completed": "Done.",
        "state_rejected": "Refused.",
        "state_lapsed": "Not confirmed in time; it was closed.",
        "download": "Download my data", "until": "until",
        "too_many": "Too many requests from this address; please try again later.",
        "keep_title": "Stay in touch",
        "keep_intro": "Would you like {tenant} to keep your details and go on writing to you?",
        "keep_button": "Stay",
        "kept": "Thank you: {tenant} keeps your details.",
    },
}

request_limiter = RateLimiter(limit=5, window_seconds=600)


def _texts(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS["en"])


def _form(view: public.FormView, *, sent: bool = False, error: str | None = None,
          status: int = 200, values: dict[str, Any] | None = None) -> Response:
    t = _texts(view.language)
    return Template(template_name="request_form.html", status_code=status, context={
        "form": view, "view": view, "t": t, "lang": view.language, "title": t["form_title"],
        "sent": sent, "error": error, "values": values or {}})


def _request_page(request: Request, view: public.RequestView, title: str) -> Response:
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    t = _texts(view.language)
    return Template(template_name="request_status.html", context={
        "view": view, "t": t, "lang": view.language, "title": t[title]})


class PublicRequestPages(Controller):
    path = "/p"
    include_in_schema = False

    @get("/{slug:str}/requests")
    async def show_form(self, request: Request, slug: Path[str]) -> Response:
        try:
            view = await public.form(slug, request.headers.get("accept-language", ""))
        except DomainError as error:
            return error_page(request, error)
        return Response(msgspec.to_builtins(view)) if wants_json(request) else _form(view)

    @post("/{slug:str}/requests", status_code=200)
    async def submit(self, request: Request, slug: Path[str]) -> Response:
        try:
            view = await public.form(slug, request.headers.get("accept-language", ""))
        except DomainError as error:
            return error_page(request, error)
        ip, _ = client_of(request)
        as_json = sends_json(request)
        values: dict[str, Any] = {}
        if not request_limiter.allow(ip or "?"):
            if as_json or wants_json(request):
                return Response({"status": 429, "detail": _texts(view.language)["too_many"]},
                                status_code=429)
            return _form(view, error=_texts(view.language)["too_many"], status=429)
        try:
            if as_json:
                data = msgspec.json.decode(await request.body(), type=public.PublicRequestIn)
            else:
                posted = await request.form()
                if posted.get("website"):  # honeypot: answer as if all went well
                    return _form(view, sent=True)
                values = {k: posted.get(k, "") for k in ("kind", "email", "note")}
                data = msgspec.convert(values, public.PublicRequestIn)
            await public.submit(slug, data, view.language)
        except (msgspec.ValidationError, msgspec.DecodeError, DomainError) as error:
            status = getattr(error, "status", 422)
            detail = getattr(error, "detail", None) or str(error)
            if status != 422:
                return error_page(request, error)  # type: ignore[arg-type]
            if as_json or wants_json(request):
                return Response({"status": 422, "detail": detail}, status_code=422)
            return _form(view, error=detail, status=422, values=values)
        if as_json or wants_json(request):
            return Response({"status": "verification_sent"}, status_code=202)
        return _form(view, sent=True)

    @get("/requests/verify/{token:str}")
    async def show_verify(self, request: Request, token: Path[str]) -> Response:
        try:
            view = await public.show_verify(token)
        except DomainError as error:
            return error_page(request, error)
        return _request_page(request, view, "verify_title")

    @post("/requests/verify/{token:str}", status_code=200)
    async def verify(self, request: Request, token: Path[str]) -> Response:
        try:
            view = await public.verify(token)
        except DomainError as error:
            return error_page(request, error)
        return _request_page(request, view, "status_title")

    @get("/requests/status/{token:str}")
    async def status(self, request: Request, token: Path[str]) -> Response:
        try:
            view = await public.status(token)
        except DomainError as error:
            return error_page(request, error)
        return _request_page(request, view, "status_title")

    @get("/requests/package/{token:str}")
    async def package(self, request: Request, token: Path[str]) -> Response:
        try:
            name, data = await public.package(token)
        except DomainError as error:
            return error_page(request, error)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store"})

    @get("/keep/{token:str}")
    async def show_keep(self, request: Request, token: Path[str]) -> Response:
        return await _keep_page(request, token, confirm=False)

    @post("/keep/{token:str}", status_code=200)
    async def keep(self, request: Request, token: Path[str]) -> Response:
        return await _keep_page(request, token, confirm=True)


async def _keep_page(request: Request, token: str, *, confirm: bool) -> Response:
    """The re-permission link of consent.retention: GET asks, only POST keeps."""
    try:
        view = await retention.keep_page(token, confirm=confirm)
    except DomainError as error:
        return error_page(request, error)
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    t = _texts(view.language)
    return Template(template_name="keep.html", context={
        "view": view, "t": t, "lang": view.language, "title": t["keep_title"]})
