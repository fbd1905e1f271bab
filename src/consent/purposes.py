"""Purposes: what a consent is for (newsletter, partner offers, ...), per tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

import msgspec

from consent.schemas import PurposeIn, PurposeOut, PurposePatch
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import Conflict, NotFound, invalid_field

_COLUMNS = ("id, key, name, description, legal_basis, dpv_purpose, retired, created_at, kind,"
            " validity_months")


def _out(row: Any) -> PurposeOut:
    return PurposeOut(
        id=row["id"], key=row["key"], name=row["name"],
        description=row["description"], legal_basis=row["legal_basis"],
        dpv_purpose=row["dpv_purpose"], retired=bool(row["retired"]),
        created_at=row["created_at"], kind=row["kind"],
        validity_months=row["validity_months"],
    )


async def create_purpose(ctx: TenantContext, data: PurposeIn) -> PurposeOut:
    db.require_tenant(ctx.tenant_id)
    if data.kind == "tracking" and data.legal_basis != "consent":
        # Art. 82 loi Informatique et Libertés: reading from the terminal for
        # individual measurement needs consent; no other basis will do.
        raise invalid_field("legal_basis", "a tracking purpose rests on consent only")
    if await db.fetchrow(
        "SELECT 1 FROM purpose WHERE tenant_id = {} AND key = {}", ctx.tenant_id, data.key
    ):
        raise Conflict(f"purpose {data.key!r} already exists")
    purpose_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO purpose (id, tenant_id, key, name, description, legal_basis, dpv_purpose,"
        " retired, created_at, kind, validity_months)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        purpose_id, ctx.tenant_id, data.key, data.name, data.description, data.legal_basis,
        data.dpv_purpose or ("dpv:ServiceUsageAnalytics" if data.kind == "tracking" else ""),
        False, dt.datetime.now(dt.timezone.utc), data.kind, data.validity_months,
    )
    await audit.record(ctx, "purpose.created", "purpose", purpose_id,
                       {"key": data.key, "kind": data.kind})
    return await get_purpose(ctx, data.key)


async def patch_purpose(
    ctx: TenantContext, purpose_id: uuid.UUID, data: PurposePatch
) -> PurposeOut:
    """Edits a purpose's wording, basis or retirement; only fields whose value
    changes are written and audited."""
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM purpose WHERE tenant_id = {{}} AND id = {{}}",
        ctx.tenant_id, purpose_id,
    )
    if row is None:
        raise NotFound("purpose not found")
    if row["kind"] == "tracking" and data.legal_basis not in (msgspec.UNSET, "consent"):
        raise invalid_field("legal_basis", "a tracking purpose rests on consent only")
    current = msgspec.structs.asdict(_out(row))
    changes = {k: v for k, v in msgspec.structs.asdict(data).items()
               if v is not msgspec.UNSET and current[k] != v}
    if changes:
        names = sorted(changes)
        await db.execute(
            f"UPDATE purpose SET {', '.join(f'{n} = {{}}' for n in names)}"
            " WHERE tenant_id = {} AND id = {}",
            *(changes[n] for n in names), ctx.tenant_id, purpose_id,
        )
        await audit.record(ctx, "purpose.updated", "purpose", purpose_id,
                           {"key": row["key"], "fields": names})
    return await get_purpose(ctx, row["key"])


async def get_purpose(ctx: TenantContext, key: str) -> PurposeOut:
    row = await find_purpose(ctx, key)
    if row is None:
        raise NotFound("purpose not found")
    return _out(row)


async def find_purpose(ctx: TenantContext, key: str) -> Optional[Any]:
    db.require_tenant(ctx.tenant_id)
    return await db.fetchrow(
        f"SELECT {_COLUMNS} FROM purpose WHERE tenant_id = {{}} AND key = {{}}",
        ctx.tenant_id, key,
    )


async def list_purposes(ctx: TenantContext, limit: int, cursor: Optional[str] = None) -> Page:
    """By key, `limit` at a time (keyset on the key)."""
    db.require_tenant(ctx.tenant_id)
    if cursor is None:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM purpose WHERE tenant_id = {{}}"
                              " ORDER BY key LIMIT {}", ctx.tenant_id, limit + 1)
    else:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM purpose WHERE tenant_id = {{}}"
                              " AND key > {} ORDER BY key LIMIT {}",
                              ctx.tenant_id, cursors.decode_text(cursor), limit + 1)
    return cursors.page_of([_out(r) for r in rows], limit, lambda p: cursors.encode_text(p.key))


async def purpose_keys(ctx: TenantContext) -> dict[uuid.UUID, str]:
    rows = await db.fetch("SELECT id, key FROM purpose WHERE tenant_id = {}", ctx.tenant_id)
    return {r["id"]: r["key"] for r in rows}
