"""Public data-subject request pages: the form, verification (GET shows, only
POST verifies), status and package download. Work without JavaScript; JSON
when asked with `Accept: application/json`."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from api.controllers.public import client_of, sends_json, too_many
from api.envelope import link_subject
from api.params import Ctx, Path, Tenant
from api.problems import wants_json
from api.rendering import error_field, form_error, page
from consent import retention
from consent.journey import legal
from consent.requests import links, public
from optinbase import i18n, limits
from optinbase.errors import Invalid
from optinbase.i18n import N_

def _form(view: public.FormView, tenant: Any, *, sent: bool = False,
          error: Exception | None = None, status: int = 200,
          values: dict[str, Any] | None = None, purposes: list | None = None) -> Response:
    texts = i18n.texts(view.language, tenant)
    return page("request_form.html", language=view.language, tenant=tenant,
                title=N_("request.form.title"), status=status, form=view, view=view,
                sent=sent, error=form_error(texts, error) if error else None,
                error_field=error_field(error) if error else "", values=values or {},
                purposes=purposes or [], show_notices=True)


async def _request_page(request: Request, ctx: Any, tenant: Any, view: public.RequestView,
                        title: str) -> Response:
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    return page("request_status.html", language=view.language, tenant=tenant, title=title,
                view=view, states=public.STATE_NAMES,
                purposes=await legal.purposes(ctx, view.language), show_notices=True)


class PublicRequestPages(Controller):
    """Runs inside the envelope (api.envelope), like the other public pages."""

    path = "/p"
    include_in_schema = False

    @get("/{slug:str}/requests")
    async def show_form(self, request: Request, ctx: Ctx, tenant: Tenant) -> Response:
        view = public.form(tenant, request.headers.get("accept-language", ""))
        if wants_json(request):
            return Response(msgspec.to_builtins(view))
        return _form(view, tenant, purposes=await legal.purposes(ctx, view.language))

    @post("/{slug:str}/requests", status_code=200)
    async def submit(self, request: Request, ctx: Ctx, tenant: Tenant) -> Response:
        view = public.form(tenant, request.headers.get("accept-language", ""))
        ip, _ = client_of(request)
        as_json = sends_json(request) or wants_json(request)
        show = functools.partial(_form, view, tenant,
                                 purposes=[] if as_json else await legal.purposes(ctx, view.language))
        values: dict[str, Any] = {}
        if not await limits.spend(limits.REQUEST_FORM, ip):
            refused = too_many(limits.REQUEST_FORM, "Too many requests from this address;"
                               " please try again later.", N_("request.too_many"))
            if as_json:
                raise refused
            return show(error=refused, status=429)
        try:
            if sends_json(request):
                data = msgspec.json.decode(await request.body(), type=public.PublicRequestIn)
            else:
                posted = await request.form()
                if posted.get("website"):  # honeypot: answer as if all went well
                    return show(sent=True)
                values = {k: posted.get(k, "") for k in ("kind", "email", "note")}
                data = msgspec.convert(values, public.PublicRequestIn)
            await public.submit(ctx, data, view.language)
        except (msgspec.ValidationError, msgspec.DecodeError, Invalid) as error:
            if as_json:
                raise error if isinstance(error, Invalid) else Invalid(str(error)) from None
            return show(error=error, status=422, values=values)
        if as_json:
            return Response({"status": "verification_sent"}, status_code=202)
        return show(sent=True)

    @get("/requests/verify/{token:str}", opt=link_subject(links.opener("verify")))
    async def show_verify(self, request: Request, ctx: Ctx, tenant: Tenant,
                          token: Path[str]) -> Response:
        return await _request_page(request, ctx, tenant,
                                   await public.show_verify(ctx, tenant, token),
                                   N_("request.verify.title"))

    @post("/requests/verify/{token:str}", status_code=200, opt=link_subject(links.opener("verify")))
    async def verify(self, request: Request, ctx: Ctx, tenant: Tenant,
                     token: Path[str]) -> Response:
        return await _request_page(request, ctx, tenant, await public.verify(ctx, tenant, token),
                                   N_("request.status.title"))

    @get("/requests/status/{token:str}", opt=link_subject(links.opener("status")))
    async def status(self, request: Request, ctx: Ctx, tenant: Tenant,
                     token: Path[str]) -> Response:
        return await _request_page(request, ctx, tenant, await public.status(ctx, tenant, token),
                                   N_("request.status.title"))

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
        return await _keep_page(request, ctx, tenant,
                          await retention.keep_page(ctx, tenant, token, confirm=False))

    @post("/keep/{token:str}", status_code=200, opt=link_subject(links.opener("keep")))
    async def keep(self, request: Request, ctx: Ctx, tenant: Tenant,
                   token: Path[str]) -> Response:
        return await _keep_page(request, ctx, tenant,
                          await retention.keep_page(ctx, tenant, token, confirm=True))


async def _keep_page(request: Request, ctx: Any, tenant: Any,
                     view: retention.KeepView) -> Response:
    """The re-permission link of consent.retention: GET asks, only POST keeps."""
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    return page("keep.html", language=view.language, tenant=tenant, title=N_("keep.title"),
                view=view, purposes=await legal.purposes(ctx, view.language), show_notices=True)
