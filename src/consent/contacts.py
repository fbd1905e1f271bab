"""Contacts: one person in one tenant's base, unique per tenant by e-mail, phone
and external id."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Optional

import msgspec

from consent import suppression
from consent.ledger import chain
from consent.schemas import PHONE_CHANNELS, ContactIn, ContactOut, ContactPatch
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import Conflict, Invalid, NotFound, invalid_field
from optinbase.normalise import normalise_email, normalise_phone

_COLUMNS = (
    "id, email, phone, external_id, first_name, last_name, locale, country, postal_code,"
    " birth_year, gender, language, attributes, source, created_at, updated_at,"
    " last_activity_at"
)
_FIELDS = (
    "email", "phone", "external_id", "first_name", "last_name", "locale", "country",
    "postal_code", "birth_year", "gender", "language", "attributes", "source",
)
IDENTIFIERS = ("email", "phone", "external_id")


def locales(row: Any) -> tuple[Optional[str], Optional[str]]:
    """The languages a contact gave, best first (its `locale`, then its
    `language`): the `person` of optinbase.i18n.choose."""
    return row["locale"], row["language"]


def _out(row: Any) -> ContactOut:
    attributes = row["attributes"]
    return ContactOut(
        id=row["id"], email=row["email"], phone=row["phone"],
        external_id=row["external_id"], first_name=row["first_name"],
        last_name=row["last_name"], locale=row["locale"], country=row["country"],
        postal_code=row["postal_code"], birth_year=row["birth_year"], gender=row["gender"],
        language=row["language"],
        attributes=attributes or {},
        source=row["source"], created_at=row["created_at"], updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
    )


def normalised(ctx: TenantContext, values: dict[str, Any]) -> dict[str, Any]:
    """Identifiers in stored form; blank strings count as absent."""
    out = dict(values)
    for name in ("email", "phone", "external_id"):
        if isinstance(out.get(name), str) and not out[name].strip():
            out[name] = None
    if out.get("email") is not None:
        out["email"] = normalise_email(out["email"])
    if out.get("phone") is not None:
        out["phone"] = normalise_phone(out["phone"], ctx.country)
    if out.get("external_id") is not None:
        out["external_id"] = out["external_id"].strip()
    if out.get("source"):  # a page address, never what its query string carried
        out["source"] = chain.page_url(out["source"])
    return out


async def find_by_identifiers(
    ctx: TenantContext, values: dict[str, Any], exclude: Optional[uuid.UUID] = None
) -> Optional[uuid.UUID]:
    for name in IDENTIFIERS:
        if values.get(name) is None:
            continue
        row = await db.fetchrow(
            f"SELECT id FROM contact WHERE tenant_id = {{}} AND {name} = {{}}",
            ctx.tenant_id, values[name],
        )
        if row and row["id"] != exclude:
            return row["id"]
    return None


async def refuse_listed(ctx: TenantContext, values: dict[str, Any]) -> None:
    """Suppression wins (issue 12 §5): an e-mail or phone on the list for every
    channel (erased, objected to everything, listed by hand) cannot come back
    as a contact — refused, naming the field, as an import rejects the row.
    A listing for some channels only does not stop the contact: grants on
    those channels are refused (consents.record_consent)."""
    for name in ("email", "phone"):
        if values.get(name) is None:
            continue
        email, phone = (values[name], None) if name == "email" else (None, values[name])
        if await suppression.is_suppressed(ctx, email, phone, suppression.ALL):
            raise invalid_field(name, "this person is on the suppression list for every channel"
                                " (erased or objected): they cannot be added again")


async def create_contact(ctx: TenantContext, data: ContactIn) -> ContactOut:
    db.require_tenant(ctx.tenant_id)
    values = normalised(ctx, msgspec.structs.asdict(data))
    if all(values.get(name) is None for name in IDENTIFIERS):
        raise Invalid(
            "a contact needs an email, a phone or an external_id",
            errors=[{"field": "email", "message": "one identifier is required"}],
        )
    existing = await find_by_identifiers(ctx, values)
    if existing:
        raise Conflict("a contact with this identifier already exists", existing_id=str(existing))
    await refuse_listed(ctx, values)
    contact_id = uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    hashes = await suppression.contact_hashes(ctx, values["email"], values["phone"])
    await db.execute(
        f"INSERT INTO contact (id, tenant_id, {', '.join(_FIELDS)}, created_at, updated_at,"
        f" email_hash, phone_hash) VALUES ({', '.join(['{}'] * (len(_FIELDS) + 6))})",
        contact_id, ctx.tenant_id,
        *[json.dumps(values[f] or {}) if f == "attributes" else values[f] for f in _FIELDS],
        now, now, *hashes,
    )
    await audit.record(
        ctx, "contact.created", "contact", contact_id,
        {"fields": sorted(f for f in _FIELDS if values.get(f) is not None)},
    )
    return await get_contact(ctx, contact_id)


async def find_contact(ctx: TenantContext, contact_id: uuid.UUID) -> Optional[Any]:
    db.require_tenant(ctx.tenant_id)
    return await db.fetchrow(
        f"SELECT {_COLUMNS} FROM contact WHERE tenant_id = {{}} AND id = {{}}",
        ctx.tenant_id, contact_id,
    )


async def get_contact(ctx: TenantContext, contact_id: uuid.UUID) -> ContactOut:
    row = await find_contact(ctx, contact_id)
    if row is None:
        raise NotFound("contact not found")
    return _out(row)


async def patch_contact(
    ctx: TenantContext, contact_id: uuid.UUID, data: ContactPatch
) -> ContactOut:
    row = await find_contact(ctx, contact_id)
    if row is None:
        raise NotFound("contact not found")
    changes = {
        name: value
        for name, value in msgspec.structs.asdict(data).items()
        if value is not msgspec.UNSET
    }
    changes = normalised(ctx, changes)
    # A form sends every field back: only values that differ are written and
    # audited, so the trail names what really changed.
    current = msgspec.structs.asdict(_out(row))
    changes = {k: v for k, v in changes.items()
               if current.get(k) != ((v or {}) if k == "attributes" else v)}
    merged = {name: row[name] for name in IDENTIFIERS} | {
        k: v for k, v in changes.items() if k in IDENTIFIERS
    }
    if all(merged.get(name) is None for name in IDENTIFIERS):
        raise Invalid(
            "a contact must keep an email, a phone or an external_id",
            errors=[{"field": "email", "message": "one identifier is required"}],
        )
    if "phone" in changes and changes["phone"] is None:
        await _refuse_dropping_a_used_phone(ctx, contact_id)
    existing = await find_by_identifiers(
        ctx, {k: v for k, v in changes.items() if k in IDENTIFIERS}, exclude=contact_id
    )
    if existing:
        raise Conflict("a contact with this identifier already exists", existing_id=str(existing))
    await refuse_listed(ctx, {k: v for k, v in changes.items() if k in ("email", "phone")})
    if changes:
        names = sorted(changes)
        assignments = ", ".join(f"{name} = {{}}" for name in names)
        values = [
            json.dumps(changes[n] or {}) if n == "attributes" else changes[n] for n in names
        ]
        await db.execute(
            f"UPDATE contact SET {assignments}, updated_at = {{}}"
            " WHERE tenant_id = {} AND id = {}",
            *values, dt.datetime.now(dt.timezone.utc), ctx.tenant_id, contact_id,
        )
        if "email" in changes or "phone" in changes:  # keep the suppression hashes in step
            email = changes["email"] if "email" in changes else row["email"]
            phone = changes["phone"] if "phone" in changes else row["phone"]
            await db.execute(
                "UPDATE contact SET email_hash = {}, phone_hash = {}"
                " WHERE tenant_id = {} AND id = {}",
                *await suppression.contact_hashes(ctx, email, phone), ctx.tenant_id, contact_id,
            )
        await audit.record(ctx, "contact.updated", "contact", contact_id, {"fields": names})
    return await get_contact(ctx, contact_id)


async def _refuse_dropping_a_used_phone(ctx: TenantContext, contact_id: uuid.UUID) -> None:
    """An SMS or phone consent names a number (issue 12 §5): the number cannot
    go while such a consent is granted or awaiting confirmation, or the check
    would answer "allowed" for a number nobody has any more."""
    held = await db.fetchval(
        "SELECT count(*) FROM consent_state WHERE tenant_id = {} AND contact_id = {}"
        f" AND channel IN ({', '.join(['{}'] * len(PHONE_CHANNELS))})"
        " AND status IN ('granted', 'requested')",
        ctx.tenant_id, contact_id, *PHONE_CHANNELS)
    if held:
        raise invalid_field("phone", "withdraw the SMS and phone consents before removing the"
                                     " phone number")


async def list_contacts(
    ctx: TenantContext,
    *,
    email: Optional[str],
    phone: Optional[str],
    external_id: Optional[str],
    limit: int,
    cursor: Optional[str],
) -> Page:
    db.require_tenant(ctx.tenant_id)
    filters = normalised(ctx, {"email": email, "phone": phone, "external_id": external_id})
    where, args = ["tenant_id = {}"], [ctx.tenant_id]
    for name in IDENTIFIERS:
        if filters.get(name) is not None:
            where.append(f"{name} = {{}}")
            args.append(filters[name])
    if cursor:
        where.append("id > {}")
        args.append(cursors.decode_uuid(cursor))
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM contact WHERE {' AND '.join(where)} ORDER BY id LIMIT {{}}",
        *args, limit + 1,
    )
    return cursors.id_page(rows, limit, _out)


async def resolve_contact_id(
    ctx: TenantContext,
    *,
    contact_id: Optional[uuid.UUID] = None,
    email: Optional[str] = None,
    phone: Optional[str] = None,
) -> Optional[uuid.UUID]:
    """The contact named by exactly one identifier, or None when unknown."""
    given = [x for x in (contact_id, email, phone) if x is not None]
    if len(given) != 1:
        raise Invalid(
            "give exactly one of email, phone or contact_id",
            errors=[{"field": "email", "message": "exactly one identifier is required"}],
        )
    if contact_id is not None:
        row = await find_contact(ctx, contact_id)
        return contact_id if row else None
    values = normalised(ctx, {"email": email, "phone": phone})
    return await find_by_identifiers(ctx, values)
