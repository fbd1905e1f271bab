"""Public data-subject request pages: the form, verification (GET shows, only
POST verifies), status and package download. Work without JavaScript; JSON
when asked with `Accept: application/json`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from api.controllers.public import RateLimiter, TooManyRequests, client_of, sends_json
from api.envelope import link_subject
from api.params import Ctx, Path, Tenant
from api.problems import wants_json
from consent import retention
from consent.requests import links, public
from optinbase.errors import Invalid

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
    """Runs inside the envelope (api.envelope), like the other public pages."""

    path = "/p"
    include_in_schema = False

    @get("/{slug:str}/requests")
    async def show_form(self, request: Request, tenant: Tenant) -> Response:
        view = public.form(tenant, request.headers.get("accept-language", ""))
        return Response(msgspec.to_builtins(view)) if wants_json(request) else _form(view)

    @post("/{slug:str}/requests", status_code=200)
    async def submit(self, request: Request, ctx: Ctx, tenant: Tenant) -> Response:
        view = public.form(tenant, request.headers.get("accept-language", ""))
        ip, _ = client_of(request)
        as_json = sends_json(request) or wants_json(request)
        values: dict[str, Any] = {}
        if not request_limiter.allow(ip or "?"):
            if as_json:
                raise TooManyRequests(_texts(view.language)["too_many"])
            return _form(view, error=_texts(view.language)["too_many"], status=429)
        try:
            if sends_json(request):
                data = msgspec.json.decode(await request.body(), type=public.PublicRequestIn)
            else:
                posted = await request.form()
                if posted.get("website"):  # honeypot: answer as if all went well
                    return _form(view, sent=True)
                values = {k: posted.get(k, "") for k in ("kind", "email", "note")}
                data = msgspec.convert(values, public.PublicRequestIn)
            await public.submit(ctx, data, view.language)
        except (msgspec.ValidationError, msgspec.DecodeError, Invalid) as error:
            if as_json:
                raise error if isinstance(error, Invalid) else Invalid(str(error)) from None
            return _form(view, error=getattr(error, "detail", None) or str(error), status=422,
                         values=values)
        if as_json:
            return Response({"status": "verification_sent"}, status_code=202)
        return _form(view, sent=True)

    @get("/requests/verify/{token:str}", opt=link_subject(links.opener("verify")))
    async def show_verify(self, request: Request, ctx: Ctx, tenant: Tenant,
                          token: Path[str]) -> Response:
        return _request_page(request, await public.show_verify(ctx, tenant, token), "verify_title")

    @post("/requests/verify/{token:str}", status_code=200, opt=link_subject(links.opener("verify")))
    async def verify(self, request: Request, ctx: Ctx, tenant: Tenant,
                     token: Path[str]) -> Response:
        return _request_page(request, await public.verify(ctx, tenant, token), "status_title")

    @get("/requests/status/{token:str}", opt=link_subject(links.opener("status")))
    async def status(self, request: Request, ctx: Ctx, tenant: Tenant,
                     token: Path[str]) -> Response:
        return _request_page(request, await public.status(ctx, tenant, token), "status_title")

    # Each download is an event of the request's trail: a GET that writes.
    @get("/requests/package/{token:str}", opt={**link_subject(links.opener("package")), "write": True})
    async def package(self, ctx: Ctx, tenant: Tenant, token: Path[str]) -> Response:
        name, data = await public.package(ctx, tenant, token)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store"})

    @get("/keep/{token:str}", opt=link_subject(links.opener("keep")))
    async def show_keep(self, request: Request, ctx: Ctx, tenant: Tenant,
                        token: Path[str]) -> Response:
        return _keep_page(request, await retention.keep_page(ctx, tenant, token, confirm=False))

    @post("/keep/{token:str}", status_code=200, opt=link_subject(links.opener("keep")))
    async def keep(self, request: Request, ctx: Ctx, tenant: Tenant,
                   token: Path[str]) -> Response:
        return _keep_page(request, await retention.keep_page(ctx, tenant, token, confirm=True))


def _keep_page(request: Request, view: retention.KeepView) -> Response:
    """The re-permission link of consent.retention: GET asks, only POST keeps."""
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    t = _texts(view.language)
    return Template(template_name="keep.html", context={
        "view": view, "t": t, "lang": view.language, "title": t["keep_title"]})
