"""Each provider's payload, as its documentation describes it, read into
`ProviderEvent`s: what happened (`kind`), to which address, when, and the
provider's id of the event (what makes a retry or a replay recognisable).

Kinds: `hard_bounce` (the address does not exist: never again), `soft_bounce`
(temporary: counted), `complaint` (marked as spam), `unsubscribe` (the
provider's own unsubscribe link or list-unsubscribe), `other` (deliveries,
opens...: acknowledged, nothing done).

* SES through SNS — the Notification's `Message` is SES's JSON:
  `notificationType` (or `eventType` for configuration-set events) `Bounce`
  with `bounce.bounceType` Permanent/Transient/Undetermined and
  `bounce.bouncedRecipients[].emailAddress`, or `Complaint` with
  `complaint.complainedRecipients[]`; `mail.messageId`.
* SendGrid — a JSON array of events: `event` (`bounce` with `type`
  bounce/blocked, `deferred`, `dropped`, `spamreport`, `unsubscribe`,
  `group_unsubscribe`...), `email`, `timestamp`, `sg_event_id`.
* Mailgun — `{"signature": {...}, "event-data": {"event": "failed",
  "severity": "permanent"|"temporary", "recipient", "id", "timestamp"}}`,
  also `complained`, `unsubscribed`.
* Postmark — one record: `RecordType` `Bounce` (`Type` HardBounce,
  SoftBounce, ...; `ID`, `Email`, `BouncedAt`), `SpamComplaint` (same
  fields), `SubscriptionChange` (`Recipient`, `SuppressSending`,
  `SuppressionReason`, `ChangedAt`, `MessageID`).
* Brevo — one event (or a list): `event` hard_bounce, soft_bounce, spam,
  unsubscribed, blocked... (camelCase accepted too), `email`, `message-id`,
  `ts_event`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Optional

import msgspec

from optinbase.errors import Invalid

KINDS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe", "other")
MAX_EVENTS = 1000  # per request


class ProviderEvent(msgspec.Struct, frozen=True):
    key: str  # the provider's id of the event, unique per endpoint
    kind: str
    email: Optional[str]
    at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _epoch(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return _now()


def _iso(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return _now()
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def decode(body: bytes) -> Any:
    """The body as JSON, or a 422 (never a 500) for anything else."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the body is not JSON",
                      errors=[{"field": "body", "message": "must be JSON"}]) from None


def _objects(payload: Any) -> list[dict]:
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_EVENTS:
        raise Invalid(f"at most {MAX_EVENTS} events per request")
    if not all(isinstance(i, dict) for i in items):
        raise Invalid("events must be JSON objects",
                      errors=[{"field": "body", "message": "an array of objects"}])
    return items


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def ses(message: dict) -> list[ProviderEvent]:
    """The events of one SES notification (one per recipient)."""
    kind_name = message.get("notificationType") or message.get("eventType")
    mail_id = str((message.get("mail") or {}).get("messageId", ""))
    if kind_name == "Bounce":
        bounce = message.get("bounce") or {}
        kind = "hard_bounce" if bounce.get("bounceType") == "Permanent" else "soft_bounce"
        people, at = bounce.get("bouncedRecipients") or [], _iso(bounce.get("timestamp"))
        feedback = str(bounce.get("feedbackId") or mail_id)
    elif kind_name == "Complaint":
        complaint = message.get("complaint") or {}
        kind, people = "complaint", complaint.get("complainedRecipients") or []
        at, feedback = _iso(complaint.get("timestamp")), str(complaint.get("feedbackId") or mail_id)
    else:
        return [ProviderEvent(f"ses:{kind_name}:{mail_id}", "other", None, _now())]
    return [ProviderEvent(f"ses:{feedback}:{p.get('emailAddress')}", kind,
                          _text(p.get("emailAddress")), at)
            for p in people if isinstance(p, dict)][:MAX_EVENTS]


_SENDGRID = {"spamreport": "complaint", "unsubscribe": "unsubscribe",
             "group_unsubscribe": "unsubscribe", "deferred": "soft_bounce"}


def sendgrid(payload: Any) -> list[ProviderEvent]:
    events = []
    for item in _objects(payload):
        name = item.get("event")
        if name == "bounce":
            kind = "soft_bounce" if item.get("type") == "blocked" else "hard_bounce"
        else:
            kind = _SENDGRID.get(str(name), "other")
        key = item.get("sg_event_id") or f"{item.get('sg_message_id')}:{name}:{item.get('timestamp')}"
        events.append(ProviderEvent(f"sendgrid:{key}", kind, _text(item.get("email")),
                                    _epoch(item.get("timestamp"))))
    return events


def mailgun(payload: Any) -> list[ProviderEvent]:
    data = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise Invalid("a Mailgun webhook carries an event-data object",
                      errors=[{"field": "event-data", "message": "required"}])
    name = data.get("event")
    if name == "failed":
        kind = "hard_bounce" if data.get("severity") == "permanent" else "soft_bounce"
    else:
        kind = {"complained": "complaint", "unsubscribed": "unsubscribe"}.get(str(name), "other")
    return [ProviderEvent(f"mailgun:{data.get('id')}", kind, _text(data.get("recipient")),
                          _epoch(data.get("timestamp")))]


_POSTMARK_BOUNCES = {"HardBounce": "hard_bounce", "SoftBounce": "soft_bounce",
                     "SpamComplaint": "complaint", "DnsError": "soft_bounce",
                     "Transient": "soft_bounce", "Unsubscribe": "unsubscribe",
                     "BadEmailAddress": "hard_bounce", "ManuallyDeactivated": "hard_bounce"}


def postmark(payload: Any) -> list[ProviderEvent]:
    events = []
    for item in _objects(payload):
        record = item.get("RecordType")
        if record in ("Bounce", "SpamComplaint"):
            kind = _POSTMARK_BOUNCES.get(str(item.get("Type")), "other")
            if record == "SpamComplaint":
                kind = "complaint"
            events.append(ProviderEvent(f"postmark:{record}:{item.get('ID')}", kind,
                                        _text(item.get("Email")), _iso(item.get("BouncedAt"))))
        elif record == "SubscriptionChange":
            reason = item.get("SuppressionReason")
            kind = ("other" if not item.get("SuppressSending") else
                    {"HardBounce": "hard_bounce", "SpamComplaint": "complaint"}.get(
                        str(reason), "unsubscribe"))
            events.append(ProviderEvent(
                f"postmark:{record}:{item.get('MessageID')}:{item.get('ChangedAt')}", kind,
                _text(item.get("Recipient")), _iso(item.get("ChangedAt"))))
        else:
            events.append(ProviderEvent(f"postmark:{record}:{item.get('MessageID')}", "other",
                                        None, _now()))
    return events


_BREVO = {"hard_bounce": "hard_bounce", "hardbounce": "hard_bounce",
          "soft_bounce": "soft_bounce", "softbounce": "soft_bounce",
          "spam": "complaint", "complaint": "complaint", "unsubscribed": "unsubscribe",
          "unsubscribe": "unsubscribe", "invalid_email": "hard_bounce", "invalid": "hard_bounce"}


def brevo(payload: Any) -> list[ProviderEvent]:
    events = []
    for item in _objects(payload):
        name = str(item.get("event", ""))
        kind = _BREVO.get(name.lower(), "other")
        stamp = item.get("ts_event") or item.get("ts_epoch") or item.get("ts")
        key = f"{item.get('message-id') or item.get('id')}:{name}:{stamp}"
        events.append(ProviderEvent(f"brevo:{key}", kind, _text(item.get("email")),
                                    _epoch(stamp) if stamp else _iso(item.get("date"))))
    return events


READERS: dict[str, Callable[[Any], list[ProviderEvent]]] = {
    "sendgrid": sendgrid, "mailgun": mailgun, "postmark": postmark, "brevo": brevo,
}
