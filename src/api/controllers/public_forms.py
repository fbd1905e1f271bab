"""Tenants' forms on their own websites (consent.forms): the hosted page (also
the iframe), the script that renders the form inside the host page, and the
submission endpoint — the one public endpoint with CORS, for the origins the
form lists and for those only.

The hosted page may be framed by the listed origins only (CSP
frame-ancestors, through api.headers' FRAME_ANCESTORS hook). A submission whose Origin is neither ours nor listed is
refused before anything is read (403, no CORS headers: the browser shows the
host page's script nothing)."""

from __future__ import annotations

import json
from typing import Any, Optional
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, route
from litestar.enums import HttpMethod

from api.controllers.public import _gpc, client_of, sends_json, too_many
from api import form_view, headers
from api.params import Ctx, Path, Tenant
from api.problems import wants_json
from api.rendering import error_field, form_error
from consent.forms import definitions
from consent.forms.definitions import Version
from consent.forms.submission import (
    Box,
    FormSubmission,
    origin_allowed,
    origin_of,
    page_url,
    submit,
)
from consent.journey import legal
from optinbase import i18n, limits
from optinbase.errors import Forbidden, Invalid
from optinbase.i18n import N_

def _own_origins(request: Request) -> set[str]:
    return {origin_of(request.app.state.settings.public_url), origin_of(str(request.base_url))}


def _cors(origin: Optional[str], version: Version) -> dict[str, str]:
    """CORS headers for a listed origin (never `*`, never credentials)."""
    if origin and origin_allowed(origin, version.definition, set()):
        return {"access-control-allow-origin": origin, "vary": "Origin",
                "access-control-allow-methods": "POST",
                "access-control-allow-headers": "content-type, accept",
                "access-control-max-age": "600"}
    return {"vary": "Origin"}


# The security headers (api.headers) are decided outside the handler, from the
# scope: the hosted page leaves its form's allowed origins in the scope's
# state, which the middleware's view of the scope shares.
FRAME_KEY = "optinbase.frame_ancestors"


def _framed_by(scope: Any) -> list[str]:
    return list(scope.get("state", {}).get(FRAME_KEY, ()))


headers.FRAME_ANCESTORS.append(_framed_by)


def _may_frame(request: Request, version: Version) -> None:
    request.scope["state"][FRAME_KEY] = list(version.definition.allowed_origins)


async def _hosted(request: Request, ctx: Any, tenant: Any, version: Version, *,
                  done: bool = False, error: Optional[Exception] = None, status: int = 200,
                  page_of: Optional[str] = None,
                  given: Optional[FormSubmission] = None) -> Response:
    """`given`: a refused submission, whose typed values and ticks come back
    with the error beside its field (as on the subscribe page)."""
    texts = i18n.texts(form_view.language_of(version), tenant)
    _may_frame(request, version)
    shown = form_view.Shown(
        done=done, error=form_error(texts, error) if error else None,
        error_field=error_field(error).removeprefix("fields.") if error else "",
        given=given, page_of=page_of or "")
    return form_view.hosted(version, tenant, await legal.partners_of(ctx), shown, status=status)


def _posted_submission(posted: Any, version: Version) -> FormSubmission:
    fields = {f.name: posted.get(f.name) for f in version.definition.fields}
    boxes = []
    for value in posted.getall("consent", []):
        purpose, _, channel = value.partition(":")
        boxes.append(Box(purpose=purpose, channel=channel))
    return FormSubmission(fields=fields, consents=boxes, page_url=posted.get("page_url") or None)


class PublicForms(Controller):
    path = "/p/{slug:str}/forms/{form_id:uuid}"
    include_in_schema = False

    @get("/")
    async def show(self, request: Request, ctx: Ctx, tenant: Tenant,
                   form_id: Path[UUID]) -> Response:
        version = await definitions.current(ctx, form_id)
        return await _hosted(request, ctx, tenant, version,
                             page_of=page_url(request.headers.get("referer")))

    @get("/embed.js")
    async def script(self, request: Request, ctx: Ctx, tenant: Tenant,
                     form_id: Path[UUID]) -> Response:
        version = await definitions.current(ctx, form_id)
        language = form_view.language_of(version)
        config = {**form_view.view(version, i18n.texts(language, tenant),
                                   await legal.partners_of(ctx)),
                  "language": language,
                  "action": f"{request.app.state.settings.public_url}/p/{tenant.slug}/forms/{form_id}"}
        body = EMBED_JS.replace("__CONFIG__", json.dumps(config).replace("<", "\\u003c"))
        return Response(body, media_type="text/javascript; charset=utf-8",
                        headers={"cache-control": "no-cache"})

    # `preflight`: the envelope resolves the tenant for this OPTIONS (the form's
    # origins are the tenant's data), where it lets Litestar's own OPTIONS pass.
    @route("/", http_method=[HttpMethod.OPTIONS], status_code=200, opt={"preflight": True})
    async def preflight(self, request: Request, ctx: Ctx, form_id: Path[UUID]) -> Response:
        version = await definitions.current(ctx, form_id)
        return Response(None, status_code=204,
                        headers=_cors(request.headers.get("origin"), version))

    @post("/", status_code=200)
    async def submit(self, request: Request, ctx: Ctx, tenant: Tenant,
                     form_id: Path[UUID]) -> Response:
        version = await definitions.current(ctx, form_id)
        origin = request.headers.get("origin")
        if not origin_allowed(origin, version.definition, _own_origins(request)):
            raise Forbidden("this form does not accept submissions from this site",
                            msgid=N_("forms.origin_refused"))
        headers = _cors(origin, version)
        ip, agent = client_of(request)
        as_json = wants_json(request) or sends_json(request)
        if not await limits.spend(limits.SUBSCRIBE, ip):  # the hosted form's limit, shared
            raise too_many(limits.SUBSCRIBE, "Too many attempts from this address; please try"
                           " again later.", N_("subscribe.too_many"))
        data = None
        try:
            if sends_json(request):
                data = msgspec.json.decode(await request.body(), type=FormSubmission)
            else:
                data = _posted_submission(await request.form(), version)
            out = await submit(ctx, tenant, form_id, data, origin=origin,
                               own_origins=_own_origins(request), ip=ip, user_agent=agent,
                               gpc=_gpc(request))
        except (msgspec.ValidationError, msgspec.DecodeError, Invalid) as error:
            if isinstance(error, Invalid) and as_json:
                raise  # problem details by the one mapper (no CORS headers: the script
                # shows its own error text and needs no detail)
            if as_json:
                raise Invalid(str(error)) from None
            return await _hosted(request, ctx, tenant, version, error=error, status=422,
                                 given=data)
        if as_json:
            return Response(msgspec.to_builtins(out), status_code=202, headers=headers)
        if out.redirect_url:
            return Response(None, status_code=303, headers={"location": out.redirect_url})
        return await _hosted(request, ctx, tenant, version, done=True)


# Renders the form inside the host page and posts it from there (CORS). Texts
# come in the configuration (from the catalogues and the form's definition);
# everything is set with textContent, never as HTML.
EMBED_JS = r"""(function () {
  "use strict";
  var cfg = __CONFIG__;
  var me = document.currentScript;
  var host = document.querySelector('[data-optinbase-form="' + cfg.id + '"]');
  if (!host) { host = document.createElement("div"); me.parentNode.insertBefore(host, me); }
  function el(tag, props, parent) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") { node.textContent = props[k]; } else { node.setAttribute(k, props[k]); }
    });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  var form = el("form", {"class": "optinbase-form", "novalidate": "novalidate",
                         "lang": cfg.language, "style": "font-family:" + cfg.font});
  el("h2", {text: cfg.title}, form);
  if (cfg.intro) { el("p", {text: cfg.intro}, form); }
  cfg.fields.forEach(function (f) {
    var id = "ob-" + cfg.id + "-" + f.name.replace(".", "-");
    var p = el("p", {}, form);
    if (f.type === "checkbox") {
      el("input", {id: id, name: f.name, type: "checkbox"}, p);
      el("label", {"for": id, text: " " + f.label}, p);
      return;
    }
    el("label", {"for": id, text: f.label}, p);
    el("br", {}, p);
    var input;
    if (f.type === "select") {
      input = el("select", {id: id, name: f.name}, p);
      el("option", {value: "", text: ""}, input);
      f.options.forEach(function (o) { el("option", {value: o, text: o}, input); });
    } else {
      var type = {email: "email", phone: "tel"}[f.name] || (f.type === "number" ? "number" : f.type === "date" ? "date" : "text");
      input = el("input", {id: id, name: f.name, type: type, maxlength: String(f.max_length)}, p);
    }
    if (f.required) { input.setAttribute("required", "required"); }
  });
  cfg.groups.forEach(function (g) {
    var set = el("fieldset", {}, form);
    el("legend", {text: g.name}, set);
    el("blockquote", {lang: g.language, text: g.text, style: "white-space:pre-wrap"}, set);
    el("p", {"class": "partners", text: g.partners}, set);
    g.boxes.forEach(function (b) {
      var id = "ob-" + cfg.id + "-" + g.purpose + "-" + b.channel;
      var p = el("p", {}, set);
      el("input", {id: id, type: "checkbox", name: "consent", value: g.purpose + ":" + b.channel}, p);
      el("label", {"for": id, text: " " + b.label}, p);
    });
  });
  var button = el("button", {type: "submit", text: cfg.submit,
                             style: "background:" + cfg.colour + ";color:" + cfg.on_colour + ";border:0;padding:.6rem 1.2rem"}, form);
  var status = el("p", {role: "status", "aria-live": "polite"}, form);
  host.appendChild(form);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var fields = {}, consents = [];
    cfg.fields.forEach(function (f) {
      var input = form.elements[f.name];
      fields[f.name] = f.type === "checkbox" ? input.checked : input.value;
    });
    Array.prototype.forEach.call(form.querySelectorAll('input[name="consent"]:checked'), function (box) {
      var parts = box.value.split(":");
      consents.push({purpose: parts[0], channel: parts[1]});
    });
    button.disabled = true;
    fetch(cfg.action, {method: "POST", mode: "cors", credentials: "omit",
                       headers: {"Content-Type": "application/json", "Accept": "application/json"},
                       body: JSON.stringify({fields: fields, consents: consents,
                                             page_url: location.origin + location.pathname})})
      .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer); })
      .then(function (out) {
        if (out.redirect_url) { location.href = out.redirect_url; return; }
        Array.prototype.forEach.call(form.children, function (c) { if (c !== status) { c.hidden = true; } });
        status.textContent = cfg.success;
      })
      .catch(function () { button.disabled = false; status.textContent = cfg.error; });
  });
})();
"""
