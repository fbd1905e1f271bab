"""Small builders for test data. Each takes (or makes) a tenant: nothing is global."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional

from optinbase import db
from tenants import keys, service
from tests import databases

_counter = itertools.count(1)


@dataclass
class TenantFixture:
    id: uuid.UUID
    slug: str
    key: str
    headers: dict[str, str] = field(default_factory=dict)
    country: str = "FR"


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def as_owner() -> AsyncIterator[None]:
    """Management work (tenants, keys) runs as the owner role, as the CLI does."""
    current = db.get_engine()
    owner = databases.owner_engines["postgres" if db.is_postgres(current) else "sqlite"]
    db.use_engine(owner)
    try:
        yield
    finally:
        db.use_engine(current)


async def make_tenant(
    *, slug: Optional[str] = None, country: str = "FR", agency: Optional[str] = None,
    scopes: Optional[list[str]] = None,
) -> TenantFixture:
    async with as_owner():
        record = await service.create_tenant(
            slug or unique_slug(), "Tenant", country=country, agency_slug=agency
        )
    key = await make_key(record.id, scopes=scopes)
    return TenantFixture(record.id, record.slug, key, {"Authorization": f"Bearer {key}"},
                         record.country)


async def make_key(tenant_id: uuid.UUID, *, scopes: Optional[list[str]] = None,
                   expires_at: Any = None) -> str:
    async with as_owner(), db.tenant_transaction(tenant_id):
        return await keys.create_key(
            tenant_id=tenant_id, agency_id=None, name="test", scopes=scopes, expires_at=expires_at
        )


async def make_purpose(client: Any, tenant: TenantFixture, key: str = "newsletter") -> dict:
    response = await client.post(
        "/v1/purposes", json={"key": key, "name": key.title()}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def make_notice(
    client: Any, tenant: TenantFixture, purpose: str = "newsletter",
    channels: tuple[str, ...] = ("email", "sms"), text: str = "Yes, send me the newsletter.",
) -> dict:
    response = await client.post(
        "/v1/notices",
        json={"purpose": purpose, "channels": list(channels), "language": "en", "text": text},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def make_contact(client: Any, tenant: TenantFixture, **fields: Any) -> dict:
    body = {"email": f"person{next(_counter)}@example.com", **fields}
    response = await client.post("/v1/contacts", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def grant(
    client: Any, tenant: TenantFixture, contact_id: str, notice_id: str,
    channel: str = "email", purpose: str = "newsletter", **extra: Any,
) -> dict:
    response = await client.post(
        f"/v1/contacts/{contact_id}/consents",
        json={"channel": channel, "purpose": purpose, "action": "grant", "method": "api",
              "notice_id": notice_id, **extra},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class World:
    """A tenant with a purpose, a notice, a contact and one granted consent."""

    tenant: TenantFixture
    purpose: dict
    notice: dict
    contact: dict
    event: dict


async def make_world(client: Any, tenant: Optional[TenantFixture] = None) -> World:
    tenant = tenant or await make_tenant()
    purpose = await make_purpose(client, tenant)
    notice = await make_notice(client, tenant)
    contact = await make_contact(client, tenant, phone="+33612345678")
    event = await grant(client, tenant, contact["id"], notice["id"], ip="203.0.113.9")
    return World(tenant, purpose, notice, contact, event)
