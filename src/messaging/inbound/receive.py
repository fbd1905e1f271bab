"""One call of a provider to `POST /inbound/{provider}/{id}`: the endpoint
(the tenant is already known from the id), the provider's proof checked
before anything else is read, its payload read, its events handled.

SES comes through SNS: a `SubscriptionConfirmation` (signed like every SNS
message) pins the endpoint to its topic and is confirmed by visiting its
`SubscribeURL` (an SNS host) once the transaction has committed; messages of
another topic are refused afterwards. A `Notification` carries SES's event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from messaging.inbound import endpoints, handling, providers, schemes, sns
from messaging.inbound.handling import Summary
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Invalid, Unauthorized
from tenants.repository import TenantRecord

logger = logging.getLogger("optinbase.inbound")


def _object(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object",
                      errors=[{"field": "body", "message": "a JSON object"}])
    return payload


async def _ses(ctx: TenantContext, endpoint: dict, body: bytes,
               test_host: str) -> list[providers.ProviderEvent]:
    message = _object(providers.decode(body))
    await sns.verify(message, test_host)
    topic, pinned = message.get("TopicArn"), endpoint["topic_arn"]
    if pinned and topic != pinned:
        raise Unauthorized("this endpoint takes messages of the topic it confirmed only")
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        if not pinned:
            await endpoints.pin_topic(ctx, endpoint["id"], str(topic))
        url = str(message.get("SubscribeURL", ""))

        async def confirm() -> None:
            problem = await sns.confirm_subscription(url, test_host)
            if problem:
                logger.warning("SNS subscription of %s not confirmed: %s", topic, problem)

        db.after_commit(confirm)
        return []
    if kind != "Notification":
        return []  # UnsubscribeConfirmation: nothing to do
    try:
        inner = json.loads(str(message.get("Message", "")))
    except ValueError:
        raise Invalid("the SNS message does not carry SES's JSON") from None
    return providers.ses(_object(inner))


async def receive(ctx: TenantContext, tenant: TenantRecord, provider: str, public: str,
                  headers: dict[str, str], body: bytes, *, sns_test_host: str = "") -> Summary:
    _, endpoint_id = endpoints.parse_public_id(public)
    endpoint = await endpoints.live(ctx, endpoint_id, provider)
    secret = endpoint["secret"]
    if provider == "ses":
        events = await _ses(ctx, endpoint, body, sns_test_host)
    elif provider == "sendgrid":
        schemes.verify_sendgrid(secret, headers, body)
        events = providers.sendgrid(providers.decode(body))
    elif provider == "mailgun":
        payload = _object(providers.decode(body))
        schemes.verify_mailgun(secret, payload.get("signature"))
        events = providers.mailgun(payload)
    elif provider == "postmark":
        schemes.verify_basic(endpoint["username"], secret, headers.get("authorization"))
        events = providers.postmark(providers.decode(body))
    else:
        schemes.verify_token(secret, headers.get("authorization"))
        events = providers.brevo(providers.decode(body))
    return await handling.handle(ctx, tenant, endpoint, events)
