"""Versioned form definitions: creating a form is its version 1; every change
(`PATCH`) is a new version with the notices chosen again, and the old
versions stay as they were (submissions' proofs name them). The form's
current version is its highest."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any, Optional

import msgspec

from consent.forms.schemas import Definition, Embed, FormIn, FormOffer, FormOut, FormPatch
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field

_NOTICES = (
    "SELECT p.key, p.name, n.id, n.channels, n.language, n.version, n.text FROM purpose p"
    " JOIN notice n ON n.tenant_id = p.tenant_id AND n.purpose_id = p.id"
    " WHERE p.tenant_id = {} AND NOT p.retired ORDER BY p.key, n.version DESC"
)


async def _offers(ctx: TenantContext, data: FormIn) -> list[FormOffer]:
    """Each purpose × channel with the notice to show: the newest of the
    purpose covering the channel, in the form's language when one exists."""
    rows = await db.fetch(_NOTICES, ctx.tenant_id)
    language = data.language.split("-")[0]
    offers = []
    for index, purpose in enumerate(data.purposes):
        for channel in data.channels:
            covering = [r for r in rows if r["key"] == purpose and channel in r["channels"]]
            if not covering:
                raise invalid_field(f"purposes[{index}]",
                                    f"no notice of purpose {purpose!r} covers {channel}")
            same = [r for r in covering if r["language"].split("-")[0] == language]
            row = (same or covering)[0]
            offers.append(FormOffer(
                purpose=purpose, purpose_name=row["name"], channel=channel,
                notice_id=row["id"], notice_version=int(row["version"]),
                notice_text=row["text"], notice_language=row["language"]))
    return offers


def _check(data: FormIn) -> None:
    names = [f.name for f in data.fields]
    if len(set(names)) != len(names):
        raise invalid_field("fields", "names a field twice")
    if "email" not in names:
        raise invalid_field("fields", "must include email (the confirmation goes there)")
    for index, field in enumerate(data.fields):
        if field.type == "select" and not field.options:
            raise invalid_field(f"fields[{index}].options", "a select needs options")
        if field.pattern is not None:
            try:
                re.compile(field.pattern)
            except re.error as error:
                raise invalid_field(f"fields[{index}].pattern", f"is not a pattern: {error}") from None
        if field.name == "email" and not field.required:
            raise invalid_field(f"fields[{index}].required", "the e-mail field is required")


def embed(public_url: str, slug: str, form_id: uuid.UUID) -> Embed:
    url = f"{public_url}/p/{slug}/forms/{form_id}"
    return Embed(
        url=url,
        script=f'<div data-optinbase-form="{form_id}"></div>\n'
               f'<script src="{url}/embed.js" async></script>',
        iframe=f'<iframe src="{url}" title="Optinbase form" loading="lazy"'
               f' style="width:100%;min-height:32rem;border:0"></iframe>',
    )


async def draft(ctx: TenantContext, data: FormIn) -> Definition:
    """What saving `data` would store, checked and with its notices chosen,
    without storing it: the admin builder's live preview renders this, so
    what staff see before saving is what the saved version will show."""
    db.require_tenant(ctx.tenant_id)
    _check(data)
    return Definition(**msgspec.structs.asdict(data), offers=await _offers(ctx, data))


async def _store(ctx: TenantContext, form_id: uuid.UUID, version: int, data: FormIn,
                 public_url: str) -> FormOut:
    definition = await draft(ctx, data)
    now = dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO form_version (id, tenant_id, form_id, version, name, definition, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {})",
        uuid.uuid4(), ctx.tenant_id, form_id, version, data.name,
        msgspec.json.encode(definition).decode(), now)
    await audit.record(ctx, "form.saved", "form", form_id, {"version": version})
    return _out(definition, form_id, version, now, public_url, ctx.tenant_slug)


def _out(definition: Definition, form_id: uuid.UUID, version: int, created_at: Any,
         public_url: str, slug: str) -> FormOut:
    return FormOut(**msgspec.structs.asdict(definition), id=form_id, version=version,
                   created_at=created_at, embed=embed(public_url, slug, form_id))


async def create(ctx: TenantContext, data: FormIn, public_url: str) -> FormOut:
    db.require_tenant(ctx.tenant_id)
    return await _store(ctx, uuid.uuid4(), 1, data, public_url)


_LATEST = (
    "SELECT form_id, version, definition, created_at FROM form_version"
    " WHERE tenant_id = {} AND form_id = {} ORDER BY version DESC LIMIT 1"
)


class Version(msgspec.Struct):
    form_id: uuid.UUID
    version: int
    definition: Definition
    created_at: Any


async def current(ctx: TenantContext, form_id: uuid.UUID) -> Version:
    """The form's newest version; NotFound for an unknown or another tenant's id."""
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(_LATEST, ctx.tenant_id, form_id)
    if row is None:
        raise NotFound("form not found")
    raw = row["definition"]
    definition = msgspec.json.decode(raw if isinstance(raw, (str, bytes)) else json.dumps(raw),
                                      type=Definition)
    return Version(form_id, int(row["version"]), definition, row["created_at"])


async def get(ctx: TenantContext, form_id: uuid.UUID, public_url: str) -> FormOut:
    found = await current(ctx, form_id)
    return _out(found.definition, form_id, found.version, found.created_at, public_url,
                ctx.tenant_slug)


async def list_forms(ctx: TenantContext, public_url: str) -> list[FormOut]:
    db.require_tenant(ctx.tenant_id)
    rows = await db.fetch(
        "SELECT DISTINCT form_id FROM form_version WHERE tenant_id = {}", ctx.tenant_id)
    forms = [await get(ctx, r["form_id"], public_url) for r in rows]
    return sorted(forms, key=lambda f: (f.name, str(f.id)))


async def patch(ctx: TenantContext, form_id: uuid.UUID, data: FormPatch,
                public_url: str) -> FormOut:
    found = await current(ctx, form_id)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    base = {k: v for k, v in msgspec.structs.asdict(found.definition).items() if k != "offers"}
    merged = msgspec.convert(msgspec.to_builtins({**base, **changes}), FormIn)
    return await _store(ctx, form_id, found.version + 1, merged, public_url)


def offer_for(definition: Definition, purpose: str, channel: str) -> Optional[FormOffer]:
    return next((o for o in definition.offers if o.purpose == purpose and o.channel == channel),
                None)
