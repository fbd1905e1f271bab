"""Examples of the main operations' requests and answers, shown by the docs UI
and sent by schemathesis's `examples` phase (tests/security/
test_schemathesis.py): each must be valid against its schema
(tests/api/test_openapi_docs.py checks) and harmless to send — ids that name
nothing (404), addresses on example.com. Applied by api.docs.document.

`request`: the JSON body (or, for a file, its text); `params`: query
parameters; `response`: the 2xx answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

CONTACT_ID = "0192f1c4-7a51-7c3e-9a0b-3f1f6f0a2c11"
EVENT_ID = "0192f1c4-7b02-7d11-8e4a-51c0d2e3f4a5"
NOTICE_ID = "0192f1c4-6f10-7a2b-9c3d-4e5f60718293"
REQUEST_ID = "0192f1c4-8c20-7f00-a1b2-c3d4e5f60718"
SEGMENT_ID = "0192f1c4-9d30-7e10-b2c3-d4e5f6071829"
IMPORT_ID = "0192f1c4-ae40-7d20-83d4-e5f60718293a"
WEBHOOK_ID = "0192f1c4-bf50-7c30-94e5-f60718293a4b"
FORM_ID = "0192f1c4-c060-7b40-a5f6-0718293a4b5c"
# An inbound endpoint's public id: the tenant's uuid hex, then the endpoint's.
INBOUND_ID = "5f0c1d9e8a7b4c6d9e8f0a1b2c3d4e5f7c2e4a6b8d0f4e1a9b3c5d7e9f1a3b5c"
AT = "2026-12-01T09:30:00Z"
HASH = "9f2c6a1e" * 8


@dataclass(frozen=True)
class Example:
    request: Any = None
    media: Optional[str] = None  # the one media type `request` is written in (default: all)
    response: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    summary: Optional[str] = None


CONTACT = {
    "id": CONTACT_ID, "email": "anne.martin@example.com", "phone": "+33612345678",
    "external_id": "crm-1042", "first_name": "Anne", "last_name": "Martin", "locale": "fr-FR",
    "country": "FR", "postal_code": "75011", "birth_year": 1986, "gender": None,
    "language": "fr", "attributes": {"interest": "running"}, "source": "api",
    "created_at": AT, "updated_at": AT, "last_activity_at": AT,
}
EVENT = {
    "id": EVENT_ID, "seq": 42, "contact_id": CONTACT_ID, "channel": "email",
    "purpose": "newsletter", "action": "grant", "status": "granted", "notice_id": NOTICE_ID,
    "method": "web_form", "source": "https://www.example.com/newsletter", "collected_at": AT,
    "recorded_at": AT, "actor": "key:4f1e2d3c4b5a6978", "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0", "prev_hash": "0" * 64, "hash": HASH, "proof": {},
}
CHECK = {"allowed": True, "status": "granted", "since": AT, "event_id": EVENT_ID,
         "suppressed": False, "restricted": False, "tracking_allowed": True}
RULES = {"type": "all", "rules": [
    {"type": "field", "field": "country", "op": "in", "value": ["FR", "BE"]},
    {"type": "consent", "channel": "email", "purpose": "newsletter", "status": "granted"},
]}
SEGMENT = {"id": SEGMENT_ID, "name": "French and Belgian subscribers", "rules": RULES,
           "created_at": AT, "updated_at": AT}
REQUEST = {
    "id": REQUEST_ID, "kind": "access", "status": "unverified", "source": "api",
    "email": "anne.martin@example.com", "phone": None, "contact_id": CONTACT_ID,
    "locale": "fr", "note": "Asked by letter", "changes": {}, "verification": "email",
    "received_at": AT, "verified_at": None, "due_at": "2027-01-01T09:30:00Z", "overdue": False,
    "extended_months": 0, "extension_reason": "", "closed_at": None, "outcome": "",
    "package_expires_at": None,
}
FORM_IN = {
    "name": "Newsletter (footer)", "purposes": ["newsletter"], "channels": ["email"],
    "language": "en", "fields": [{"name": "email", "required": True},
                                 {"name": "first_name", "label": "First name"}],
    "texts": {"title": "Our newsletter", "submit": "Subscribe"},
    "branding": {"colour": "#0b4f9c"}, "allowed_origins": ["https://www.example.com"],
    "double_opt_in": True,
}
FORM_OUT = {
    **FORM_IN, "id": FORM_ID, "version": 1, "created_at": AT, "redirect_url": None,
    "offers": [],
    "embed": {"url": f"https://optin.example.com/p/acme/forms/{FORM_ID}",
              "script": f'<script src="https://optin.example.com/p/acme/forms/{FORM_ID}/embed.js"'
                        " async></script>",
              "iframe": f'<iframe src="https://optin.example.com/p/acme/forms/{FORM_ID}"'
                        ' title="Newsletter"></iframe>'},
}
IMPORT_JOB = {"id": IMPORT_ID, "status": "done", "format": "csv", "total": 2, "created": 1,
              "updated": 0, "rejected": 1,
              "errors": [{"line": 3, "column": "email", "reason": "not an e-mail address"}],
              "detail": "", "created_at": AT, "finished_at": AT}

EXAMPLES: dict[str, Example] = {
    "POST /v1/contacts": Example(
        request={"email": "anne.martin@example.com", "first_name": "Anne",
                 "last_name": "Martin", "country": "FR", "language": "fr",
                 "attributes": {"interest": "running"}},
        response=CONTACT),
    "GET /v1/contacts/{contact_id}": Example(response=CONTACT),
    "PATCH /v1/contacts/{contact_id}": Example(request={"postal_code": "75011"},
                                              response=CONTACT),
    "GET /v1/contacts": Example(params={"email": "anne.martin@example.com"},
                                response={"items": [CONTACT], "next_cursor": None}),
    "POST /v1/contacts/{contact_id}/consents": Example(
        request={"channel": "email", "purpose": "newsletter", "action": "grant",
                 "notice_id": NOTICE_ID, "method": "web_form",
                 "source": "https://www.example.com/newsletter", "collected_at": AT,
                 "ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "double_opt_in": True},
        response={**EVENT, "status": "pending"}),
    "GET /v1/contacts/{contact_id}/consents": Example(response=[
        {"channel": "email", "purpose": "newsletter", "status": "granted", "since": AT,
         "expires_at": None, "event_id": EVENT_ID}]),
    "GET /v1/consent-check": Example(
        params={"email": "anne.martin@example.com", "channel": "email", "purpose": "newsletter"},
        response=CHECK),
    "POST /v1/consent-check": Example(
        request={"items": [
            {"email": "anne.martin@example.com", "channel": "email", "purpose": "newsletter"},
            {"phone": "+33612345678", "channel": "sms", "purpose": "promotions"}]},
        response={"results": [CHECK, {"allowed": False, "status": "none", "since": None,
                                      "event_id": None, "suppressed": False,
                                      "restricted": False, "tracking_allowed": False}]}),
    "POST /v1/imports": Example(
        request="email,first_name,consent_channel,consent_purpose,notice_id,collected_at\n"
                f"anne.martin@example.com,Anne,email,newsletter,{NOTICE_ID},{AT}\n"
                "not-an-address,Paul,,,,\n", media="text/csv",
        response={**IMPORT_JOB, "status": "queued", "total": 0, "created": 0, "rejected": 0,
                  "errors": [], "finished_at": None}),
    "GET /v1/imports/{import_id}": Example(response=IMPORT_JOB),
    "POST /v1/segments": Example(request={"name": SEGMENT["name"], "rules": RULES},
                                 response=SEGMENT),
    "GET /v1/segments/{segment_id}": Example(response=SEGMENT),
    "GET /v1/segments/{segment_id}/count": Example(
        params={"channel": "email", "purpose": "newsletter"},
        response={"count": 1234, "channel": "email", "purpose": "newsletter"}),
    "POST /v1/requests": Example(
        request={"kind": "access", "email": "anne.martin@example.com", "note": "Asked by letter"},
        response=REQUEST),
    "GET /v1/requests/{request_id}": Example(response=REQUEST),
    "POST /v1/requests/{request_id}/extend": Example(
        request={"months": 1, "reason": "The request covers ten years of records."},
        response={**REQUEST, "extended_months": 1,
                  "extension_reason": "The request covers ten years of records."}),
    "POST /v1/suppressions": Example(
        request={"email": "anne.martin@example.com", "channel": "email", "reason": "manual"},
        response={"id": "0192f1c4-d170-7a50-b607-18293a4b5c6d", "kind": "email",
                  "channel": "email", "reason": "manual",
                  "created_at": AT}),
    "DELETE /v1/suppressions": Example(
        request={"email": "anne.martin@example.com", "channel": "email",
                 "reason": "Subscribed again on the website"}),
    "GET /v1/suppressions/check": Example(params={"email": "anne.martin@example.com"},
                                          response={"suppressed": True, "channels": ["email"]}),
    "GET /v1/changes": Example(params={"limit": 100}, response={
        "items": [{"cursor": "c_42", "kind": "consent", "contact_id": CONTACT_ID, "at": AT,
                   "channel": "email", "purpose": "newsletter", "status": "granted",
                   "event_id": EVENT_ID}],
        "next_cursor": "c_42", "has_more": False}),
    "POST /v1/inbound-endpoints": Example(
        request={"provider": "postmark"},
        response={"id": INBOUND_ID, "provider": "postmark",
                  "url": f"https://optin.example.com/inbound/postmark/{INBOUND_ID}",
                  "created_at": AT, "username": "optinbase-3fa94c1b",
                  "password": "s3cr3t-shown-once",
                  "url_with_credentials": "https://optinbase-3fa94c1b:s3cr3t-shown-once@"
                                          f"optin.example.com/inbound/postmark/{INBOUND_ID}"}),
    "POST /v1/inbound/sms": Example(request={"from": "+33612345678", "text": "STOP"},
                                    response={"stop": True, "withdrawn": 2}),
    "POST /inbound/{provider}/{endpoint_id}": Example(
        response={"received": 3, "duplicates": 0, "ignored": 1, "suppressed": 1,
                  "withdrawn": 1, "soft_bounces": 0}),
    "POST /v1/forms": Example(request=FORM_IN, response=FORM_OUT),
    "GET /v1/forms/{form_id}": Example(response=FORM_OUT),
    "PATCH /v1/forms/{form_id}": Example(request={"texts": {"title": "Our Monday letter"}},
                                         response={**FORM_OUT, "version": 2}),
    "POST /v1/webhooks": Example(
        request={"url": "https://hooks.example.com/optinbase", "events": ["consent.changed"]},
        response={"id": WEBHOOK_ID, "url": "https://hooks.example.com/optinbase",
                  "events": ["consent.changed"], "created_at": AT,
                  "secret": "whsec_shown_once_1f2e3d4c5b6a"}),
}
