"""Small builders for test data. Each takes a tenant (make_tenant makes one):
nothing is global. They write through the domain services, as the CLI and the
API do, not over HTTP: set-up is not what a test is about, and an HTTP round
trip per row was most of some tests' time. Where a test is about the HTTP
answer, it makes the call itself."""

from __future__ import annotations

import contextlib
import functools
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional

import msgspec

from consent import consents, contacts, notices, purposes
from consent.requests import intake
from consent.requests.schemas import RequestIn
from consent.schemas import ConsentIn, ContactIn, NoticeIn, PurposeIn
from optinbase import db
from optinbase.context import ALL_SCOPES, TenantContext
from tenants import keys, service
from tenants.schemas import TenantPatch
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
    *, slug: Optional[str] = None, name: str = "Tenant", country: str = "FR",
    agency: Optional[str] = None, scopes: Optional[list[str]] = None,
) -> TenantFixture:
    async with as_owner():
        record = await service.create_tenant(
            slug or unique_slug(), name, country=country, agency_slug=agency
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


def context(tenant: TenantFixture) -> TenantContext:
    """The context the API builds for the tenant's key (api.auth): set-up written
    through the services carries the same actor as if it had come over HTTP."""
    return TenantContext.for_api_key(tenant, tenant.key.split("_")[1], ALL_SCOPES)


async def _write(tenant: TenantFixture, service_call: Any, body: dict, into: type, *args: Any) -> dict:
    """`service_call(ctx, *args, data)` in one tenant transaction, as the API runs it:
    the body is decoded as the API decodes JSON, the answer encoded as it answers."""
    data = msgspec.json.decode(msgspec.json.encode(body), type=into)
    async with db.tenant_transaction(tenant.id):
        out = await service_call(context(tenant), *args, data)
    return msgspec.json.decode(msgspec.json.encode(out))


async def make_purpose(tenant: TenantFixture, key: str = "newsletter", **fields: Any) -> dict:
    return await _write(tenant, purposes.create_purpose,
                        {"key": key, "name": key.title(), **fields}, PurposeIn)


async def make_notice(
    tenant: TenantFixture, purpose: str = "newsletter",
    channels: tuple[str, ...] = ("email", "sms"), text: str = "Yes, send me the newsletter.",
    **fields: Any,
) -> dict:
    body = {"purpose": purpose, "channels": list(channels), "language": "en", "text": text,
            **fields}
    return await _write(tenant, notices.create_notice, body, NoticeIn)


async def make_contact(tenant: TenantFixture, **fields: Any) -> dict:
    body = {"email": f"person{next(_counter)}@example.com", **fields}
    return await _write(tenant, contacts.create_contact, body, ContactIn)


async def record(tenant: TenantFixture, contact_id: str, action: str, channel: str = "email",
                 purpose: str = "newsletter", **extra: Any) -> dict:
    """A consent event (`grant`, `withdraw`, `refuse`), recorded as POST .../consents does."""
    body = {"channel": channel, "purpose": purpose, "action": action, "method": "api", **extra}
    return await _write(tenant, consents.record_consent, body, ConsentIn, uuid.UUID(contact_id))


async def grant(
    tenant: TenantFixture, contact_id: str, notice_id: str,
    channel: str = "email", purpose: str = "newsletter", **extra: Any,
) -> dict:
    return await record(tenant, contact_id, "grant", channel, purpose, notice_id=notice_id, **extra)


async def make_request(tenant: TenantFixture, email: str, kind: str = "access",
                       **fields: Any) -> dict:
    """A data-subject request, received as POST /v1/requests receives it."""
    body = {"kind": kind, "email": email, **fields}
    return await _write(tenant, functools.partial(intake.receive, source="api"), body, RequestIn)


@dataclass
class World:
    """A tenant with a purpose, a notice, a contact and one granted consent."""

    tenant: TenantFixture
    purpose: dict
    notice: dict
    contact: dict
    event: dict


async def make_world(tenant: TenantFixture) -> World:
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    contact = await make_contact(tenant, phone="+33612345678")
    event = await grant(tenant, contact["id"], notice["id"], ip="203.0.113.9")
    return World(tenant, purpose, notice, contact, event)


async def set_tenant(tenant: TenantFixture, **fields: Any) -> dict:
    """The tenant's profile and settings (branding, controller, DPO), as
    `PATCH /v1/tenant` changes them (tenants.service.update_tenant)."""
    return await _write(tenant, service.update_tenant, fields, TenantPatch)
