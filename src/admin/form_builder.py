"""The admin's form builder (issue 16 §2): staff edit a form definition —
fields, purposes and channels offered, language, texts, branding, redirect,
allowed origins — and see the form re-rendered as they type, then save it as
the form's next version and copy its embed snippets.

The preview is the hosted form itself (api.form_view renders the same template
from the unsaved draft, with the notices the saved version would pin), shown
in a sandboxed frame that runs no script; nothing is stored until "Save".
Saving goes through the same service as the API (consent.forms.definitions),
which checks the definition and audits `form.saved` as the staff member.

Routes (under the admin gate: staff session, one transaction scoped to the
staff member's tenants; POSTs need the CSRF header like every admin write):
  GET  /admin/form-builder/                      the forms of the tenants seen
  GET  /admin/form-builder/{tenant}/new/         a new form
  GET  /admin/form-builder/{tenant}/{form}/      a form's newest version
  POST /admin/form-builder/{tenant}/preview/     draft → rendered page (JSON)
  POST /admin/form-builder/{tenant}/save/        draft → new version + snippets
A tenant the staff member does not see, or a form that tenant does not have,
answers 404 exactly like a missing one.
"""

from __future__ import annotations

import functools
import uuid
from html import escape
from typing import Any, Awaitable, Callable, Optional, Union

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from admin.dashboard import visible_tenants
from admin.form_builder_page import builder_body
from admin.form_builder_script import SCRIPT
from admin.look import cell, layout, page_texts, staff_page, table
from admin.scope import WRITERS, AdminScope, acting, current_scope
from api import form_view
from consent.forms import definitions
from consent.forms.definitions import Version
from consent.forms.schemas import FormField, FormIn, FormPatch
from consent.journey import legal
from optinbase import db
from optinbase.errors import DomainError, NotFound
from optinbase.i18n import Texts
from optinbase.settings import get_settings
from tenants import repository

URL = "/admin/form-builder/"
SCRIPT_PATH = "/form-builder/script/"  # ends in a slash like the admin's other routes
MAX_DRAFT_BYTES = 65_536  # a 30-field definition with every text is ~20 KiB


class Draft(msgspec.Struct, forbid_unknown_fields=True):
    definition: FormIn
    form_id: Optional[uuid.UUID] = None


def _tenant_id(request: Request, scope: AdminScope) -> uuid.UUID:
    """The path's tenant, if this staff member sees it; NotFound otherwise."""
    try:
        tenant_id = uuid.UUID(request.path_params["tenant_id"])
    except ValueError:
        raise NotFound("form not found") from None
    if not scope.sees(tenant_id):
        raise NotFound("form not found")
    return tenant_id


def _not_found(request: Request, scope: AdminScope, t: Texts) -> Response:
    body = (f'<h1>{t("admin.builder.not_found")}</h1>'
            f'<p><a href="{URL}">{t("admin.builder.title")}</a></p>')
    return HTMLResponse(layout(request, scope, t("admin.builder.not_found"), body, URL),
                        status_code=404)


@staff_page
async def index(request: Request, scope: AdminScope, t: Texts) -> Response:
    public_url = get_settings().public_url
    rows, new_links = [], []
    for tenant in await visible_tenants(scope):
        async with acting(scope, tenant["id"]) as ctx:
            forms = await definitions.list_forms(ctx, public_url)
        rows += [
            f'<tr><td><a href="{URL}{tenant["id"]}/{f.id}/">{cell(f.name)}</a></td>'
            f'<td class="n">{f.version}</td><td>{cell(f.language)}</td>'
            f'<td>{cell(tenant["name"])}</td></tr>' for f in forms]
        if scope.may(tenant["id"], WRITERS):
            new_links.append(f'<a class="new-form" href="{URL}{tenant["id"]}/new/">'
                             f'{t("admin.builder.new_for", tenant=tenant["name"])}</a>')
    listing = table("forms", [t("admin.builder.name"), t("admin.builder.version"),
                              t("admin.builder.language"), t("admin.tenant")], rows) \
        if rows else f'<p id="forms">{t("admin.builder.none")}</p>'
    body = (f'<h1>{t("admin.builder.title")}</h1><p class="muted">{t("admin.builder.intro")}'
            f'</p><p>{" · ".join(new_links)}</p>{listing}')
    return HTMLResponse(layout(request, scope, t("admin.builder.title"), body, URL))


async def _purposes(tenant_id: uuid.UUID) -> list[dict[str, str]]:
    rows = await db.fetch("SELECT key, name FROM purpose WHERE tenant_id = {} AND NOT retired"
                          " ORDER BY key", tenant_id)
    return [{"key": r["key"], "name": r["name"]} for r in rows]


def _new_definition(purposes: list[dict[str, str]], language: str) -> dict[str, Any]:
    """A new form's starting point: the e-mail field, the first purpose by
    e-mail (the consent boxes themselves are never pre-checked)."""
    return msgspec.to_builtins(FormIn(
        name="", purposes=[p["key"] for p in purposes[:1]], channels=["email"],
        language=language if language in ("fr", "en") else "fr",
        fields=[FormField(name="email", required=True)]))


@staff_page
async def builder(request: Request, scope: AdminScope, t: Texts) -> Response:
    try:
        tenant_id = _tenant_id(request, scope)
        async with acting(scope, tenant_id) as ctx:
            tenant = await repository.tenant_by_id(tenant_id)
            purposes = await _purposes(tenant_id)
            raw_form = request.path_params.get("form_id")
            saved: Optional[definitions.FormOut] = None
            if raw_form is not None:
                saved = await definitions.get(ctx, uuid.UUID(raw_form), get_settings().public_url)
                definition = msgspec.to_builtins(FormIn(**{
                    k: v for k, v in msgspec.structs.asdict(saved).items()
                    if k in FormIn.__struct_fields__}))
                preview = form_view.hosted_html(
                    Version(saved.id, saved.version, saved, saved.created_at), tenant,
                    await legal.partners_of(ctx))
            else:
                definition = _new_definition(purposes, t.language)
                preview = await _preview_or_error(ctx, tenant, definition, None, 1)
    except (ValueError, NotFound, LookupError):
        return _not_found(request, scope, t)
    title = saved.name if saved else t("admin.builder.new_title")
    body = builder_body(t, tenant=tenant, purposes=purposes, definition=definition,
                        saved=saved, preview=preview, may_save=scope.may(tenant_id, WRITERS),
                        base=f"{URL}{tenant_id}/", script=f"/admin{SCRIPT_PATH}")
    return HTMLResponse(layout(request, scope, title, body, URL))


async def _preview_or_error(ctx: Any, tenant: Any, definition: dict[str, Any],
                            form_id: Optional[uuid.UUID], version: int) -> str:
    """The rendered page of a draft, or the page saying why it cannot be shown."""
    try:
        return await _render(ctx, tenant, msgspec.convert(definition, FormIn), form_id, version)
    except (DomainError, msgspec.ValidationError) as refusal:
        return f"<!doctype html><p>{escape(_reason(refusal))}</p>"


async def _render(ctx: Any, tenant: Any, data: FormIn, form_id: Optional[uuid.UUID],
                  version: int) -> str:
    drafted = await definitions.draft(ctx, data)
    return form_view.hosted_html(Version(form_id or uuid.UUID(int=0), version, drafted, None),
                                 tenant, await legal.partners_of(ctx))


def _reason(refusal: Exception) -> str:
    """The refusal in one line naming the part of the definition at fault
    (`fields[2].name: …`)."""
    if isinstance(refusal, DomainError):
        return refusal.detail
    message = str(refusal)  # msgspec: "Expected … - at `$.fields[0].label`"
    if " - at `$." in message:
        what, _, where = message.rpartition(" - at `$.")
        return f"{where.rstrip('`').removeprefix('definition.')}: {what.replace('`', '')}"
    return message


async def _draft(request: Request, t: Texts) -> Draft | JSONResponse:
    body = await request.body()
    if len(body) > MAX_DRAFT_BYTES:
        return JSONResponse({"error": t("admin.builder.too_large", kib=MAX_DRAFT_BYTES // 1024)},
                            status_code=413)
    try:
        return msgspec.json.decode(body, type=Draft)
    except (msgspec.ValidationError, msgspec.DecodeError) as refusal:
        return JSONResponse({"error": t("admin.builder.invalid", reason=_reason(refusal))},
                            status_code=422)


async def _version_after(ctx: Any, form_id: Optional[uuid.UUID]) -> int:
    if form_id is None:
        return 1
    return (await definitions.current(ctx, form_id)).version + 1


Answer = Union[dict[str, Any], Response]


def draft_endpoint(handler: Callable[[AdminScope, Texts, uuid.UUID, Draft], Awaitable[Answer]]
                   ) -> Callable[[Request], Awaitable[Response]]:
    """A POST taking a draft for the path's tenant: staff only, the draft
    decoded within its size, a tenant or form the staff member does not see
    read as absent (404), the API's refusals as a 422 saying what is wrong."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        scope, t = current_scope.get(), page_texts(request)
        if scope.user_id is None:
            return JSONResponse({"error": "login"}, status_code=401)
        draft = await _draft(request, t)
        if isinstance(draft, JSONResponse):
            return draft
        try:
            answer = await handler(scope, t, _tenant_id(request, scope), draft)
        except NotFound:
            return JSONResponse({"error": t("admin.builder.not_found")}, status_code=404)
        except DomainError as refusal:
            return JSONResponse({"error": t("admin.builder.invalid", reason=_reason(refusal))},
                                status_code=422)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    return endpoint


@draft_endpoint
async def preview(scope: AdminScope, t: Texts, tenant_id: uuid.UUID, draft: Draft) -> Answer:
    """The draft rendered as the saved version would be; nothing stored."""
    async with acting(scope, tenant_id) as ctx:
        tenant = await repository.tenant_by_id(tenant_id)
        html = await _render(ctx, tenant, draft.definition, draft.form_id,
                             await _version_after(ctx, draft.form_id))
    return {"html": html}


@draft_endpoint
async def save(scope: AdminScope, t: Texts, tenant_id: uuid.UUID, draft: Draft) -> Answer:
    """The draft as the form's next version (or a new form's first), through
    the API's service: checked again, stored, audited; answers the snippets."""
    if not scope.may(tenant_id, WRITERS):
        return JSONResponse({"error": t("admin.builder.role")}, status_code=403)
    public_url = get_settings().public_url
    async with acting(scope, tenant_id) as ctx:
        if draft.form_id is None:
            out = await definitions.create(ctx, draft.definition, public_url)
        else:
            await definitions.current(ctx, draft.form_id)  # absent reads as absent
            out = await definitions.patch(ctx, draft.form_id, msgspec.convert(
                msgspec.to_builtins(draft.definition), FormPatch), public_url)
    return {"id": str(out.id), "version": out.version, "url": out.embed.url,
            "script": out.embed.script, "iframe": out.embed.iframe,
            "builder": f"{URL}{tenant_id}/{out.id}/",
            "message": t("admin.builder.saved", version=out.version)}


async def script(request: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def install(admin: Any) -> None:
    admin.add_route("/form-builder/", index, methods=["GET"])
    admin.add_route(SCRIPT_PATH, script, methods=["GET"])
    admin.add_route("/form-builder/{tenant_id}/new/", builder, methods=["GET"])
    admin.add_route("/form-builder/{tenant_id}/preview/", preview, methods=["POST"])
    admin.add_route("/form-builder/{tenant_id}/save/", save, methods=["POST"])
    admin.add_route("/form-builder/{tenant_id}/{form_id}/", builder, methods=["GET"])

