"""Public pages reached from e-mails: server-rendered, no JavaScript, no login.
JSON instead of HTML when asked with `Accept: application/json`."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from api.envelope import link_subject
from api.params import Ctx, Path, Tenant
from api.problems import wants_json
from api.rendering import error_field, form_error, page
from consent.journey import legal, pages, subscription
from consent.journey.subscription import Choice, SubscribeIn
from optinbase import i18n, limits
from optinbase.errors import Invalid, TooManyRequests
from optinbase.i18n import N_

_STATUS = {"expired": 410, "replaced": 410}


def too_many(limit: limits.Limit, detail: str, msgid: str) -> TooManyRequests:
    error = TooManyRequests(detail, msgid=msgid)
    error.retry_after = limit.retry_after()
    return error


def _gpc(request: Request) -> bool:
    """Global Privacy Control: the browser objects to sale/sharing (here: social ads)."""
    return request.headers.get("sec-gpc", "").strip() == "1"


def client_of(request: Request) -> tuple[str | None, str | None]:
    """(address, user agent): the address as api.clients decided it."""
    return (request.client.host if request.client else None,
            request.headers.get("user-agent"))


async def _page(request: Request, ctx: Any, tenant: Any, template: str, title: str,
                view: pages.LinkView) -> Response:
    status = _STATUS.get(view.state, 200)
    if wants_json(request):
        return Response(msgspec.to_builtins(view), status_code=status)
    return page(template, language=view.language, tenant=tenant, title=title, status=status,
                view=view, purposes=await legal.purposes(ctx, view.language), show_notices=True)


class PublicPages(Controller):
    """Runs inside the envelope (api.envelope): the tenant comes from the
    signed link or the form's slug, the page's transaction is open, and a
    DomainError raised here becomes the error page (or problem JSON)."""

    path = "/p"
    include_in_schema = False

    @get("/confirm/{token:str}", opt=link_subject(pages.confirmation_tenant))
    async def show_confirm(self, request: Request, ctx: Ctx, tenant: Tenant,
                           token: Path[str]) -> Response:
        return await _page(request, ctx, tenant, "confirm.html", N_("confirm.title"),
                           await pages.show_confirmation(ctx, tenant, token))

    @post("/confirm/{token:str}", status_code=200, opt=link_subject(pages.confirmation_tenant))
    async def confirm(self, request: Request, ctx: Ctx, tenant: Tenant,
                      token: Path[str]) -> Response:
        ip, agent = client_of(request)
        return await _page(request, ctx, tenant, "confirm.html", N_("confirm.title"),
                           await pages.confirm(ctx, tenant, token, ip, agent, _gpc(request)))

    @get("/unsubscribe/{token:str}", opt=link_subject(pages.subscriber_tenant))
    async def show_unsubscribe(self, request: Request, ctx: Ctx, tenant: Tenant,
                               token: Path[str]) -> Response:
        return await _page(request, ctx, tenant, "unsubscribe.html", N_("unsubscribe.title"),
                           await pages.show_unsubscribe(ctx, tenant, token))

    # RFC 8058: mail clients POST `List-Unsubscribe=One-Click` with no cookie,
    # no JavaScript, no confirmation step; the page's own button posts the same.
    @post("/unsubscribe/{token:str}", status_code=200, opt=link_subject(pages.subscriber_tenant))
    async def unsubscribe(self, request: Request, ctx: Ctx, tenant: Tenant,
                          token: Path[str]) -> Response:
        ip, agent = client_of(request)
        everything = False
        if not sends_json(request):  # the page's "everything" button; mail clients never send it
            everything = bool((await request.form()).get("everything"))
        return await _page(request, ctx, tenant, "unsubscribe.html", N_("unsubscribe.title"),
                           await pages.unsubscribe(ctx, tenant, token, ip, agent, _gpc(request),
                                                   everything=everything))

    @get("/{slug:str}/subscribe")
    async def show_subscribe(self, request: Request, ctx: Ctx, tenant: Tenant) -> Response:
        form = await pages.show_subscribe_form(ctx, tenant,
                                               request.headers.get("accept-language", ""))
        if wants_json(request):
            return Response(msgspec.to_builtins(form))
        return _form_page(form, tenant, done=False,
                          purposes=await legal.purposes(ctx, form.language))

    @post("/{slug:str}/subscribe", status_code=200)
    async def subscribe(self, request: Request, ctx: Ctx, tenant: Tenant) -> Response:
        ip, agent = client_of(request)
        form = await pages.show_subscribe_form(ctx, tenant,
                                               request.headers.get("accept-language", ""))
        as_json = wants_json(request) or sends_json(request)
        show = functools.partial(_form_page, form, tenant,
                                 purposes=[] if as_json else await legal.purposes(ctx, form.language))
        if not await limits.spend(limits.SUBSCRIBE, ip):
            refused = too_many(limits.SUBSCRIBE, "Too many attempts from this address; please"
                               " try again later.", N_("subscribe.too_many"))
            if as_json:
                raise refused
            return show(done=False, error=refused, status=429)
        fields: dict[str, Any] = {}
        ticked: list[str] = []  # kept ticked when the page comes back with an error
        try:
            if sends_json(request):
                data = msgspec.json.decode(await request.body(), type=SubscribeIn)
            else:
                posted = await request.form()
                fields = {"email": posted.get("email", ""), "phone": posted.get("phone") or None}
                if posted.get("website"):  # the honeypot: a bot filled the invisible field
                    return show(done=True)
                choices = []
                ticked = posted.getall("consent", [])
                for value in ticked:
                    purpose, _, channel = value.partition(":")
                    choices.append(Choice(channel=channel, purpose=purpose,
                                          notice_id=posted.get(f"notice.{purpose}", "")))
                data = msgspec.convert({**fields, "consents": [msgspec.to_builtins(c) for c in choices],
                                        "locale": form.language}, SubscribeIn)
            await subscription.subscribe(ctx, tenant, data, ip=ip, user_agent=agent,
                                         source=str(request.url), gpc=_gpc(request))
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            if as_json:
                raise Invalid(str(error)) from None
            return show(done=False, error=error, status=422, email=fields.get("email", ""),
                        phone=fields.get("phone"), ticked=ticked)
        except Invalid as error:
            if as_json:
                raise
            return show(done=False, error=error, status=422, email=fields.get("email", ""),
                        phone=fields.get("phone"), ticked=ticked)
        if as_json:
            return Response({"status": "confirmation_sent"}, status_code=202)
        return show(done=True)

    @get("/preferences/{token:str}", opt=link_subject(pages.subscriber_tenant))
    async def show_preferences(self, request: Request, ctx: Ctx, tenant: Tenant,
                               token: Path[str]) -> Response:
        return await _preferences_page(request, ctx, tenant,
                                       await pages.show_preferences(ctx, tenant, token))

    @post("/preferences/{token:str}", status_code=200, opt=link_subject(pages.subscriber_tenant))
    async def save_preferences(self, request: Request, ctx: Ctx, tenant: Tenant,
                               token: Path[str]) -> Response:
        ip, agent = client_of(request)
        posted = await request.form()
        chosen = {tuple(v.partition(":")[::2]) for v in posted.getall("consent", [])}
        notices = {k[len("notice."):]: v for k, v in posted.items() if k.startswith("notice.")}
        view = await pages.save_preferences(ctx, tenant, token, chosen, notices, ip=ip,
                                            user_agent=agent, gpc=_gpc(request))
        return await _preferences_page(request, ctx, tenant, view)


def sends_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


def _form_page(form: pages.FormView, tenant: Any, *, done: bool,
               error: Exception | None = None, status: int = 200, email: str = "",
               phone: str | None = None, ticked: list[str] | None = None,
               purposes: list | None = None) -> Response:
    texts = i18n.texts(form.language, tenant)
    return page("subscribe.html", language=form.language, tenant=tenant,
                title=N_("subscribe.title"), status=status, form=form, view=form, done=done,
                error=form_error(texts, error) if error else None,
                error_field=error_field(error) if error else "", email=email, phone=phone,
                ticked=ticked or [], purposes=purposes or [])


async def _preferences_page(request: Request, ctx: Any, tenant: Any,
                            view: pages.PreferencesView) -> Response:
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    return page("preferences.html", language=view.language, tenant=tenant,
                title=N_("preferences.title"), view=view,
                purposes=await legal.purposes(ctx, view.language))
