"""Webhooks for integrators, signed the Standard Webhooks way
(https://www.standardwebhooks.com): endpoints per tenant, one outbox row per
endpoint and delivery, delivered by the outbox worker with its retries. A
change of one event is one delivery; a change of many (an import, expiries) is
delivered in batches (`enqueue_many`). URLs are hostile input: `check_url`
refuses what could never be delivered or points inside the network, and the
worker's client connects only to public addresses (messaging.egress).

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
import json
import secrets
import time
import uuid
from typing import Annotated, Any, Literal, Optional

import httpx
import msgspec
from msgspec import Meta

from messaging import egress, store
from messaging.mail import DeliveryError
from optinbase import cursors, db, logs
from optinbase.cursors import Page
from optinbase.errors import NotFound, invalid_field

EventType = Literal["consent.changed", "contact.erased", "request.completed", "ledger.checkpoint"]
TIMEOUT = httpx.Timeout(10.0)
BATCH_EVENTS = 500  # events per batched delivery


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


def check_url(url: str, allow_private: bool = False) -> str:
    """The URL as it will be used, or a 422 naming `url`: parsed by the same
    client that delivers (so what it refuses at delivery is refused here),
    http(s) with a valid host name and port, no credentials, and — unless
    WEBHOOK_ALLOW_PRIVATE is set — no address that is not public, in any
    notation (messaging.egress; names are checked again at each delivery)."""
    url = url.strip()
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        parsed.host, parsed.port  # noqa: B018 (decoding them is the check: IDNA, port)
    except Exception:  # httpx.InvalidURL, idna's errors, UnicodeError...
        raise invalid_field("url", "is not a URL the webhook client can use"
                            " (check the host name and port)") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise invalid_field("url", "must be an http(s) URL with a host")
    if parsed.userinfo:
        raise invalid_field("url", "must not carry credentials")
    if any(c in url for c in "\r\n\t\x00 "):
        raise invalid_field("url", "must not contain spaces or control characters")
    why = egress.check_host(host)
    if why and not (allow_private and why != "it is not a valid host name"):
        raise invalid_field("url", f"cannot be used as a webhook destination: {why}")
    return url



def _out(row: Any, secret: Optional[str] = None) -> WebhookOut:
    return WebhookOut(id=row["id"], url=row["url"], events=row["events"],
                      created_at=row["created_at"], secret=secret)


_COLUMNS = "id, url, events, created_at"


async def create_endpoint(tenant_id: uuid.UUID, data: WebhookIn,
                          allow_private: bool = False) -> WebhookOut:
    db.require_tenant(tenant_id)
    url = check_url(data.url, allow_private)
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


async def list_endpoints(tenant_id: uuid.UUID, limit: int,
                         cursor: Optional[str] = None) -> Page:
    """Oldest first, `limit` at a time (keyset on created_at, id)."""
    db.require_tenant(tenant_id)
    where, args = "", []
    if cursor is not None:
        after_at, after_id = cursors.decode_pair(cursor)
        where, args = " AND (created_at > {} OR (created_at = {} AND id > {}))", [
            after_at, after_at, after_id]
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM webhook_endpoint WHERE tenant_id = {{}}"
        f" AND disabled_at IS NULL{where} ORDER BY created_at, id LIMIT {{}}",
        tenant_id, *args, limit + 1,
    )
    return cursors.page_of([_out(r) for r in rows], limit,
                           lambda w: cursors.encode_pair(w.created_at, w.id))


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
    return [(r["id"], r["url"]) for r in rows if event_type in r["events"]]


async def enqueue(
    tenant_id: uuid.UUID, endpoints: list[tuple[uuid.UUID, str]], event_type: str,
    data: dict[str, Any], *, contact_id: Optional[uuid.UUID] = None,
) -> None:
    await enqueue_many(tenant_id, endpoints, event_type, [(data, contact_id)])


def _event(event_type: str, stamp: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": stamp, "data": data}


def _encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


async def enqueue_many(
    tenant_id: uuid.UUID, endpoints: list[tuple[uuid.UUID, str]], event_type: str,
    items: list[tuple[dict[str, Any], Optional[uuid.UUID]]],
) -> None:
    """The events of one change, in the caller's transaction, one pipelined
    statement. One event: one delivery per endpoint, tied to its contact (so
    erasure drops the person's pending deliveries). Several (an import chunk,
    expiries, a preference-centre save): batched deliveries of up to
    `BATCH_EVENTS` events each, `{"type": "batch", "timestamp", "events": [...]}`,
    every element exactly a single delivery's body. Bodies are fixed now, so
    every retry sends (and signs) the same bytes."""
    if not endpoints or not items:
        return
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.isoformat().replace("+00:00", "Z")
    if len(items) == 1:
        [(data, contact_id)] = items
        bodies = [(_encode(_event(event_type, stamp, data)), contact_id)]
    else:
        events = [_event(event_type, stamp, data) for data, _ in items]
        bodies = [(_encode({"type": "batch", "timestamp": stamp,
                            "events": events[i:i + BATCH_EVENTS]}), None)
                  for i in range(0, len(events), BATCH_EVENTS)]
    rows = [(uuid.uuid4(), tenant_id, store.STANDARD, contact_id, url, event_type,
             json.dumps(logs.tagged({"endpoint_id": str(endpoint_id), "body": body})), now, now)
            for body, contact_id in bodies for endpoint_id, url in endpoints]
    await db.executemany(
        "INSERT INTO outbox_message (id, tenant_id, kind, priority, contact_id, recipient, subject,"
        " payload, status, attempts, next_attempt_at, created_at)"
        " VALUES ({}, {}, 'webhook', {}, {}, {}, {}, {}, 'pending', 0, {}, {})",
        rows,
    )
    await store.queued()


async def enqueue_event(tenant_id: uuid.UUID, event_type: str, data: dict[str, Any],
                        *, contact_id: Optional[uuid.UUID] = None) -> None:
    await enqueue(tenant_id, await subscribers(tenant_id, event_type), event_type, data,
                  contact_id=contact_id)


class Cancelled(Exception):
    """The endpoint was deleted after the message was queued: do not send."""


async def endpoint_secrets(tenant_id: uuid.UUID, endpoint_ids: set[str]) -> dict[str, str]:
    """Secrets of the live endpoints among `endpoint_ids` (text), by id; a
    deleted endpoint is absent (its deliveries are cancelled). Read by the
    outbox worker in the tenant's transaction, once per claim."""
    db.require_tenant(tenant_id)
    ids = [uuid.UUID(i) for i in endpoint_ids]
    rows = await db.fetch(
        "SELECT id, secret FROM webhook_endpoint WHERE tenant_id = {} AND disabled_at IS NULL"
        " AND id IN (" + ", ".join(["{}"] * len(ids)) + ")", tenant_id, *ids)
    return {str(r["id"]): r["secret"] for r in rows}


async def post(client: httpx.AsyncClient, row: Any, payload: dict[str, Any], secret: str) -> None:
    """One signed POST through the guarded client (messaging.egress); anything
    but a 2xx answer raises for a retry. The id stays the same across retries
    (receivers deduplicate on it); the timestamp is the real sending time,
    which receivers check against their clock."""
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
