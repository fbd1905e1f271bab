"""A tenant's inbound endpoints, one per provider account: created by API or
admin, shown once with what to paste into the provider, disabled (never
deleted: the handled events keep pointing at it).

The public id in the URL carries the tenant and the endpoint
(`<tenant uuid hex><endpoint uuid hex>`): the provider calls without a key,
and the tenant must be known before its transaction opens — a lookup of the
endpoint across tenants would be neither routable on Citus nor visible under
row-level security. Guessing one is useless: every call is still checked by
the provider's own scheme against that endpoint's secret.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from typing import Annotated, Literal, Optional

import msgspec
from msgspec import Meta

from messaging.inbound import schemes
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field

Provider = Literal["ses", "sendgrid", "mailgun", "postmark", "brevo"]
PROVIDERS: tuple[str, ...] = ("ses", "sendgrid", "mailgun", "postmark", "brevo")
_PUBLIC_ID = re.compile(r"^[0-9a-f]{64}$")


class InboundEndpointIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    provider: Provider
    # SendGrid: the signed event webhook's verification key (base64 DER or PEM).
    verification_key: Optional[Annotated[str, Meta(min_length=1, max_length=1000)]] = None
    # Mailgun: the HTTP webhook signing key.
    signing_key: Optional[Annotated[str, Meta(min_length=1, max_length=200)]] = None
    # SES: the SNS topic whose messages are accepted. Without it the first
    # topic confirmed is pinned — and any AWS account can send a signed
    # confirmation to a URL it learnt, so naming the topic is safer.
    topic_arn: Optional[Annotated[str, Meta(
        pattern=r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$")]] = None


class InboundEndpointOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    provider: str
    url: str
    created_at: dt.datetime
    topic_arn: Optional[str] = None
    # Shown once, in the answer to the creation: what to paste into the provider.
    username: Optional[str] = None
    password: Optional[str] = None
    token: Optional[str] = None
    url_with_credentials: Optional[str] = None


def public_id(tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> str:
    return tenant_id.hex + endpoint_id.hex


def parse_public_id(text: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant id, endpoint id), or NotFound for anything else."""
    if not _PUBLIC_ID.fullmatch(text or ""):
        raise NotFound("no such inbound endpoint")
    return uuid.UUID(text[:32]), uuid.UUID(text[32:])


def _url(public_url: str, provider: str, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> str:
    return f"{public_url}/inbound/{provider}/{public_id(tenant_id, endpoint_id)}"


def _secret_of(data: InboundEndpointIn) -> tuple[Optional[str], str]:
    """(username, secret) to store for the provider."""
    if data.provider == "sendgrid":
        if not data.verification_key:
            raise invalid_field("verification_key", "SendGrid's verification key is required")
        schemes.sendgrid_key(data.verification_key)  # a 422 now rather than 401s later
        return None, data.verification_key.strip()
    if data.provider == "mailgun":
        if not data.signing_key:
            raise invalid_field("signing_key", "Mailgun's webhook signing key is required")
        return None, data.signing_key.strip()
    if data.topic_arn and data.provider != "ses":
        raise invalid_field("topic_arn", "only an SES endpoint takes an SNS topic")
    if data.verification_key or data.signing_key:
        raise invalid_field("provider", f"{data.provider} takes no key: we generate its secret")
    if data.provider == "postmark":
        return "optinbase-" + secrets.token_hex(4), schemes.new_secret()
    return None, schemes.new_secret()  # brevo's token; ses needs none (SNS signs)


async def create(ctx: TenantContext, data: InboundEndpointIn, public_url: str) -> InboundEndpointOut:
    db.require_tenant(ctx.tenant_id)
    username, secret = _secret_of(data)
    endpoint_id, now = uuid.uuid4(), dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO inbound_endpoint (id, tenant_id, provider, username, secret, topic_arn,"
        " created_at, disabled_at) VALUES ({}, {}, {}, {}, {}, {}, {}, NULL)",
        endpoint_id, ctx.tenant_id, data.provider, username, secret, data.topic_arn, now)
    await audit.record(ctx, "inbound_endpoint.created", "inbound_endpoint", endpoint_id,
                       {"provider": data.provider})
    url = _url(public_url, data.provider, ctx.tenant_id, endpoint_id)
    out = InboundEndpointOut(id=public_id(ctx.tenant_id, endpoint_id), provider=data.provider,
                             url=url, created_at=now, topic_arn=data.topic_arn)
    if data.provider == "postmark":
        scheme, _, rest = url.partition("://")
        out.username, out.password = username, secret
        out.url_with_credentials = f"{scheme}://{username}:{secret}@{rest}"
    elif data.provider == "brevo":
        out.token = secret
    return out


_COLUMNS = "id, provider, username, secret, topic_arn, created_at"


async def list_endpoints(ctx: TenantContext, public_url: str) -> list[InboundEndpointOut]:
    db.require_tenant(ctx.tenant_id)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM inbound_endpoint WHERE tenant_id = {{}} AND disabled_at IS NULL"
        " ORDER BY created_at, id", ctx.tenant_id)
    return [InboundEndpointOut(
        id=public_id(ctx.tenant_id, r["id"]), provider=r["provider"],
        url=_url(public_url, r["provider"], ctx.tenant_id, r["id"]),
        created_at=r["created_at"], topic_arn=r["topic_arn"]) for r in rows]


async def live(ctx: TenantContext, endpoint_id: uuid.UUID, provider: str) -> dict:
    """The live endpoint for `provider`, or NotFound (another tenant's id, a
    disabled endpoint and the wrong provider all read as missing)."""
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM inbound_endpoint WHERE tenant_id = {{}} AND id = {{}}"
        " AND disabled_at IS NULL", ctx.tenant_id, endpoint_id)
    if row is None or row["provider"] != provider:
        raise NotFound("no such inbound endpoint")
    return dict(row)


async def disable(ctx: TenantContext, public: str) -> None:
    tenant_id, endpoint_id = parse_public_id(public)
    if tenant_id != ctx.tenant_id:
        raise NotFound("no such inbound endpoint")
    row = await db.fetchrow(
        "SELECT provider FROM inbound_endpoint WHERE tenant_id = {} AND id = {}"
        " AND disabled_at IS NULL", ctx.tenant_id, endpoint_id)
    if row is None:
        raise NotFound("no such inbound endpoint")
    await db.execute("UPDATE inbound_endpoint SET disabled_at = {} WHERE tenant_id = {} AND id = {}",
                     dt.datetime.now(dt.timezone.utc), ctx.tenant_id, endpoint_id)
    await audit.record(ctx, "inbound_endpoint.disabled", "inbound_endpoint", endpoint_id,
                       {"provider": row["provider"]})


async def pin_topic(ctx: TenantContext, endpoint_id: uuid.UUID, topic_arn: str) -> None:
    """SES: the first SNS topic confirmed is the only one accepted afterwards."""
    await db.execute("UPDATE inbound_endpoint SET topic_arn = {} WHERE tenant_id = {} AND id = {}",
                     topic_arn, ctx.tenant_id, endpoint_id)
