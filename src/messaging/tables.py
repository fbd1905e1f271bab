"""Delivery: messages waiting to leave (e-mails and webhooks), and webhook endpoints.

An outbox row is written in the same transaction as the change that causes it,
so a message exists if and only if its change committed; workers deliver it
afterwards, at least once.
"""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from tenants.tables import Tenant


class OutboxMessage(Table, tablename="outbox_message"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(
        Tenant, null=False, on_delete=OnDelete.restrict, db_column_name="tenant_id"
    )
    kind = Varchar(length=16)  # email | webhook
    # Delivery class: 0 transactional (a person waits: confirmations, request
    # verifications, receipts), 1 standard, 2 bulk. Workers take lower first, and
    # a lane of their own serves class 0 (messaging.outbox).
    priority = Integer(default=1)
    # Whom it concerns, so erasure can remove a person's pending mail.
    contact_id = UUID(null=True, default=None)
    recipient = Varchar(length=2000)  # e-mail address or webhook URL
    subject = Varchar(length=500, default="")
    payload = JSONB(default={})  # body and headers
    status = Varchar(length=16, default="pending")  # pending sending sent logged dead cancelled
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)
    # Who holds the lease: written by the claim; every later status change of
    # the row must present it (messaging.store), so a worker whose lease was
    # taken over can no longer send or record anything for the row.
    claim_token = UUID(null=True, default=None)
    # The e-mail's Message-ID, fixed at its first claim and reused by every
    # attempt, so receivers can recognise a re-sent message.
    message_id = Varchar(length=255, null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    """An integrator's URL and the events it wants. Deleting one only stamps
    `disabled_at`: messages already queued for it are then cancelled, not sent."""

    id = UUID(primary_key=True)
    tenant = ForeignKey(
        Tenant, null=False, on_delete=OnDelete.restrict, db_column_name="tenant_id"
    )
    url = Varchar(length=2000)
    events = JSONB(default=[])  # consent.changed contact.erased request.completed
    # Signs deliveries (Standard Webhooks: `whsec_` + base64 key). Kept in clear
    # because HMAC needs it; shown to the integrator once, at creation.
    secret = Varchar(length=100, secret=True)
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class InboundEndpoint(Table, tablename="inbound_endpoint"):
    """Where one e-mail provider posts a tenant's events (messaging.inbound).
    `secret` proves the provider: Postmark's basic-auth password and Brevo's
    token (generated here), Mailgun's webhook signing key and SendGrid's
    verification key (the provider's, pasted in); SES's calls are proven by
    SNS's signature, and `topic_arn` is the topic first confirmed."""

    id = UUID(primary_key=True)
    tenant = ForeignKey(
        Tenant, null=False, on_delete=OnDelete.restrict, db_column_name="tenant_id"
    )
    provider = Varchar(length=16)  # ses sendgrid mailgun postmark brevo
    username = Varchar(length=100, null=True, default=None)
    secret = Varchar(length=1000, secret=True)
    topic_arn = Varchar(length=300, null=True, default=None)
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class InboundEvent(Table, tablename="inbound_event"):
    """A provider event handled once (unique per endpoint and provider event id)."""

    id = UUID(primary_key=True)
    tenant = ForeignKey(
        Tenant, null=False, on_delete=OnDelete.restrict, db_column_name="tenant_id"
    )
    endpoint_id = UUID()
    event_key = Varchar(length=300)
    kind = Varchar(length=16)  # hard_bounce soft_bounce complaint unsubscribe other
    contact_id = UUID(null=True, default=None)
    outcome = Varchar(length=32)
    received_at = Timestamptz()
