"""Webhooks for integrators, signed the Standard Webhooks way
(https://www.standardwebhooks.com): endpoints per tenant, one outbox row per
endpoint and event, delivered by the outbox worker with its retries.

Events and who queues them (each inside the transaction of the change):
* `consent.changed` — consent.ledger.notify.consent_changed, from every ledger event
  projected onto a consent state (API, double opt-in, unsubscribe, SMS STOP).
* `contact.erased` — consent.ledger.notify.contact_erased(ctx, contact_id), to be
  called by the erasure service once the contact is gone.
* `request.completed` — consent.ledger.notify.request_completed(ctx, request_id, kind,
  status), to be called when a data-subject request is completed or rejected.
* `ledger.checkpoint` — consent.ledger.checkpoints.publish: a signed checkpoint of
  the tenant's chain head (a copy of the commitment kept by the integrator).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
import uuid
from typing import Annotated, Any, Literal, Optional
from urllib.parse import urlsplit

import httpx
import msgspec
from msgspec import Meta

from messaging.mail import DeliveryError
from optinbase import db
from optinbase.errors import NotFound, invalid_field

EventType = Literal["consent.changed", "contact.erased", "request.completed", "ledger.checkpoint"]
TIMEOUT = httpx.Timeout(10.0)


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, Meta(min_length=1, max_length=2000)]
    events: Annotated[list[EventType], Meta(min_length=1, max_length=4)]


class WebhookOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: dt.datetime
    secret: Optional[str] = None  # only in the answer to the creation


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
    bytes the secret encodes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def check_url(url: str, production: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_field("url", "must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise invalid_field("url", "must not carry credentials")
    if production:
        # Integrators must not make the server call into its own network. Only
        # literal addresses and localhost are refused here; names are resolved
        # by the integrator's DNS, which staff should point at public hosts.
        host = parts.hostname.rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            raise invalid_field("url", "must not point at this machine")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and not address.is_global:
            raise invalid_field("url", "must not point at a private or loopback address")
    return url.strip()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _out(row: Any, secret: Optional[str] = None) -> WebhookOut:
    return WebhookOut(id=uuid.UUID(str(row["id"])), url=row["url"], events=_json(row["events"]),
                      created_at=row["created_at"], secret=secret)


_COLUMNS = "id, url, events, created_at"


async def create_endpoint(tenant_id: uuid.UUID, data: WebhookIn, production: bool) -> WebhookOut:
    db.require_tenant(tenant_id)
    url = check_url(data.url, production)
    if len(set(data.events)) != len(data.events):
        raise invalid_field("events", "lists an event twice")
    endpoint_id, secret = uuid.uuid4(), new_secret()
    now = dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO webhook_endpoint (id, tenant_id, url, events, secret, created_at, disabled_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, NULL)",
        endpoint_id, tenant_id, url, json.dumps(data.events), secret, now,
    )
    return WebhookOut(id=endpoint_id, url=url, events=list(data.events), created_at=now,
                      secret=secret)


async def list_endpoints(tenant_id: uuid.UUID) -> list[WebhookOut]:
    db.require_tenant(tenant_id)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM webhook_endpoint WHERE tenant_id = {{}}"
        " AND disabled_at IS NULL ORDER BY created_at, id",
        tenant_id,
    )
    return [_out(r) for r in rows]


async def delete_endpoint(tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    db.require_tenant(tenant_id)
    row = await db.fetchrow(
        "SELECT id FROM webhook_endpoint WHERE tenant_id = {} AND id = {} AND disabled_at IS NULL",
        tenant_id, endpoint_id,
    )
    if row is None:
        raise NotFound("webhook endpoint not found")
    await db.execute(
        "UPDATE webhook_endpoint SET disabled_at = {} WHERE tenant_id = {} AND id = {}",
        dt.datetime.now(dt.timezone.utc), tenant_id, endpoint_id,
    )


async def subscribers(tenant_id: uuid.UUID, event_type: str) -> list[tuple[uuid.UUID, str]]:
    """(endpoint id, url) of the tenant's live endpoints that want `event_type`."""
    db.require_tenant(tenant_id)
    rows = await db.fetch(
        "SELECT id, url, events FROM webhook_endpoint WHERE tenant_id = {} AND disabled_at IS NULL",
        tenant_id,
    )
    return [(uuid.UUID(str(r["id"])), r["url"]) for r in rows if event_type in _json(r["events"])]


async def enqueue(
    tenant_id: uuid.UUID, endpoints: list[tuple[uuid.UUID, str]], event_type: str,
    data: dict[str, Any], *, contact_id: Optional[uuid.UUID] = None,
) -> None:
    await enqueue_many(tenant_id, endpoints, event_type, [(data, contact_id)])


async def enqueue_many(
    tenant_id: uuid.UUID, endpoints: list[tuple[uuid.UUID, str]], event_type: str,
    items: list[tuple[dict[str, Any], Optional[uuid.UUID]]],
) -> None:
    """One outbox row per endpoint and (data, contact id), in the caller's
    transaction, in one pipelined statement. The body is fixed now, so every
    retry sends (and signs) the same bytes. The contact id lets erasure drop
    the person's pending deliveries."""
    if not endpoints or not items:
        return
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.isoformat().replace("+00:00", "Z")
    rows = []
    for data, contact_id in items:
        body = json.dumps({"type": event_type, "timestamp": stamp, "data": data},
                          separators=(",", ":"), default=str)
        rows += [(uuid.uuid4(), tenant_id, contact_id, url, event_type,
                  json.dumps({"endpoint_id": str(endpoint_id), "body": body}), now, now)
                 for endpoint_id, url in endpoints]
    await db.executemany(
        "INSERT INTO outbox_message (id, tenant_id, kind, contact_id, recipient, subject,"
        " payload, status, attempts, next_attempt_at, created_at)"
        " VALUES ({}, {}, 'webhook', {}, {}, {}, {}, 'pending', 0, {}, {})",
        rows,
    )


async def enqueue_event(tenant_id: uuid.UUID, event_type: str, data: dict[str, Any],
                        *, contact_id: Optional[uuid.UUID] = None) -> None:
    await enqueue(tenant_id, await subscribers(tenant_id, event_type), event_type, data,
                  contact_id=contact_id)


class Cancelled(Exception):
    """The endpoint was deleted after the message was queued: do not send."""


async def endpoint_secret(tenant_id: Any, endpoint_id: str) -> str:
    """Read by the outbox worker (its own transaction, `outbox` worker policy)."""
    async with db.worker_transaction("outbox"):
        row = await db.fetchrow(
            "SELECT secret, disabled_at FROM webhook_endpoint WHERE tenant_id = {} AND id = {}",
            tenant_id, uuid.UUID(endpoint_id),
        )
    if row is None or row["disabled_at"] is not None:
        raise Cancelled("the webhook endpoint was deleted")
    return row["secret"]


async def post(client: httpx.AsyncClient, row: Any, payload: dict[str, Any]) -> None:
    """One signed POST; anything but a 2xx answer raises for a retry. The id
    stays the same across retries (receivers deduplicate on it); the timestamp
    is the real sending time, which receivers check against their clock."""
    secret = await endpoint_secret(row["tenant_id"], payload["endpoint_id"])
    message_id, timestamp = str(row["id"]), int(time.time())
    body = payload["body"].encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "Optinbase-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    try:
        answer = await client.post(row["recipient"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= answer.status_code < 300:
        raise DeliveryError(f"the endpoint answered {answer.status_code}")
