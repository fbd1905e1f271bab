"""SQL for the control plane: tenants, agencies, API keys. Rows stay here;
callers get plain records (`TenantRecord`, `KeyRecord`)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Optional

import msgspec

from optinbase import db


class TenantRecord(msgspec.Struct, frozen=True):
    id: uuid.UUID
    slug: str
    name: str
    legal_name: str
    dpo_email: str
    country: str
    agency_id: Optional[uuid.UUID]
    settings: dict[str, Any]
    created_at: dt.datetime
    # Only set on a record just created; reads leave it empty (`tenant_secret`).
    secret: str = ""


class KeyRecord(msgspec.Struct, frozen=True):
    id: uuid.UUID
    key_id: str
    tenant_id: Optional[uuid.UUID]
    agency_id: Optional[uuid.UUID]
    name: str
    secret_hash: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: Optional[dt.datetime]
    revoked_at: Optional[dt.datetime]




def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        legal_name=row["legal_name"],
        dpo_email=row["dpo_email"],
        country=row["country"],
        agency_id=row["agency_id"],
        settings=row["settings"] or {},
        created_at=row["created_at"],
    )


_TENANT_COLUMNS = (
    "id, slug, name, legal_name, dpo_email, country, agency_id, settings, created_at"
)


async def tenant_secret(tenant_id: uuid.UUID) -> Optional[str]:
    """The tenant's secret, inside that tenant's transaction. On PostgreSQL the
    application role cannot select the column: the owner's function answers
    for the tenant the transaction is set to, and for no other."""
    if db.is_postgres():
        return await db.fetchval("SELECT optinbase_tenant_secret({})", tenant_id)
    return await db.fetchval("SELECT secret FROM tenant WHERE id = {}", tenant_id)


async def tenant_by_slug(slug: str) -> Optional[TenantRecord]:
    row = await db.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE slug = {{}}", slug)
    return _tenant(row) if row else None


async def tenant_by_id(tenant_id: uuid.UUID) -> Optional[TenantRecord]:
    row = await db.fetchrow(f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE id = {{}}", tenant_id)
    return _tenant(row) if row else None


async def insert_tenant(record: TenantRecord) -> None:
    await db.execute(
        "INSERT INTO tenant (id, slug, name, legal_name, dpo_email, country, agency_id,"
        " settings, secret, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        record.id, record.slug, record.name, record.legal_name, record.dpo_email,
        record.country, record.agency_id, json.dumps(record.settings), record.secret,
        record.created_at,
    )


async def update_tenant(tenant_id: uuid.UUID, values: dict[str, Any]) -> None:
    """`values`: columns among name, legal_name, dpo_email, country, settings."""
    names = sorted(values)
    await db.execute(
        f"UPDATE tenant SET {', '.join(f'{n} = {{}}' for n in names)} WHERE id = {{}}",
        *(json.dumps(values[n]) if n == "settings" else values[n] for n in names), tenant_id,
    )


async def all_tenants() -> list[TenantRecord]:
    """Every tenant, oldest first: what housekeeping walks."""
    return [_tenant(r) for r in await db.fetch(
        f"SELECT {_TENANT_COLUMNS} FROM tenant ORDER BY created_at")]


async def tenant_ids() -> list[uuid.UUID]:
    return [r["id"] for r in await db.fetch("SELECT id FROM tenant ORDER BY created_at")]


async def agency_by_slug(slug: str) -> Optional[dict[str, Any]]:
    row = await db.fetchrow("SELECT id, slug, name FROM agency WHERE slug = {}", slug)
    return {"id": row["id"], "slug": row["slug"], "name": row["name"]} if row else None


async def all_agencies() -> list[dict[str, Any]]:
    return [{"id": r["id"], "slug": r["slug"], "name": r["name"],
             "created_at": r["created_at"]}
            for r in await db.fetch("SELECT id, slug, name, created_at FROM agency ORDER BY slug")]


async def set_tenant_agency(tenant_id: uuid.UUID, agency_id: Optional[uuid.UUID]) -> None:
    await db.execute("UPDATE tenant SET agency_id = {} WHERE id = {}", agency_id, tenant_id)


async def insert_agency(agency_id: uuid.UUID, slug: str, name: str, now: dt.datetime) -> None:
    await db.execute(
        "INSERT INTO agency (id, slug, name, created_at) VALUES ({}, {}, {}, {})",
        agency_id, slug, name, now,
    )


# --- API keys ----------------------------------------------------------------

_KEY_COLUMNS = (
    "id, key_id, tenant_id, agency_id, name, secret_hash, scopes, created_at,"
    " expires_at, revoked_at"
)


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        agency_id=row["agency_id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        scopes=list(row["scopes"] or []),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def key_by_key_id(key_id: str, touch: Optional[dt.datetime] = None) -> Optional[KeyRecord]:
    """The one key whose public id is presented (inside `envelope.key_lookup`,
    whose row-level-security setting shows that row only). `touch` records use."""
    row = await db.fetchrow(f"SELECT {_KEY_COLUMNS} FROM api_key WHERE key_id = {{}}", key_id)
    if row and touch:
        await db.execute("UPDATE api_key SET last_used_at = {} WHERE key_id = {}", touch, key_id)
    return _key(row) if row else None


async def keys_of_tenant(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """The tenant's keys without their hashes (inside that tenant's transaction)."""
    rows = await db.fetch(
        "SELECT key_id, name, scopes, created_at, last_used_at, expires_at, revoked_at"
        " FROM api_key WHERE tenant_id = {} ORDER BY created_at", tenant_id)
    return [{**dict(r), "scopes": list(r["scopes"] or [])} for r in rows]


async def insert_key(record: KeyRecord) -> None:
    """Runs inside the key's tenant transaction (RLS checks tenant_id)."""
    await db.execute(
        "INSERT INTO api_key (id, key_id, tenant_id, agency_id, name, secret_hash, scopes,"
        " created_at, expires_at, revoked_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        record.id, record.key_id, record.tenant_id, record.agency_id, record.name,
        record.secret_hash, json.dumps(record.scopes), record.created_at, record.expires_at,
        record.revoked_at,
    )


async def revoke_key(key_id: str, now: dt.datetime) -> bool:
    """Inside `envelope.key_lookup(key_id)`; False when no such key exists."""
    exists = await db.fetchval("SELECT 1 FROM api_key WHERE key_id = {}", key_id)
    await db.execute(
        "UPDATE api_key SET revoked_at = {} WHERE key_id = {} AND revoked_at IS NULL", now, key_id
    )
    return bool(exists)
