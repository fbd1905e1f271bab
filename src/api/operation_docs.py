"""What each operation of `/schema/openapi.json` is for, written for integrators
(summary, then the description): one table, so the document reads as one text
and a test can check that no operation is left without one
(tests/api/test_openapi_docs.py). Applied to the document by api.docs.document.

Keys are "METHOD /path" as the document spells the path (parameters without
their type). The handlers' own docstrings say why the code is as it is; these
say what a caller gets."""

from __future__ import annotations

PAGED = ("Paged: `limit` (1–500) and `cursor` (the previous page's `next_cursor`); "
         "`next_cursor` is null on the last page.")
BARE_OR_PAGED = ("Without `limit` and `cursor`: a bare JSON array (at most 1000, a `Link: <…>; "
                 "rel=\"next\"` header points to the rest). With either: a page "
                 "`{items, next_cursor}`.")

OPERATIONS: dict[str, tuple[str, str]] = {
    "GET /health": ("Liveness", "200 `{\"status\":\"ok\"}` while the process answers. No key."),
    "GET /ready": ("Readiness", "200 when the process can do its work (database reachable, "
                   "migrations applied, outbox moving, signing key present); otherwise 503 "
                   "problem+json whose `reasons` name each failed check. No key."),
    "GET /v1/ledger/public-key": (
        "Ledger verification key", "The Ed25519 key that verifies checkpoints, receipts and "
        "webhook signatures. Public: no key needed, so that whoever holds a receipt can check it."),
    "GET /v1/tenant": ("The key's tenant", "Slug, name, legal details, settings, and the "
                       "scopes of the key that asks."),
    "PATCH /v1/tenant": (
        "Change the tenant's details and settings",
        "Name, legal name, DPO e-mail, country and `settings` (merged key by key): double-opt-in "
        "channels, link lifetimes, retention, locale and time zone; branding of pages and "
        "e-mails (`logo_url`, `primary_color`, `accent_color` as #rrggbb, `footer_text`, "
        "`sender_name`, `reply_to`); the Art. 13 details pages show. Scope `admin`."),
    "GET /v1/purposes": ("List purposes", BARE_OR_PAGED),
    "POST /v1/purposes": ("Create a purpose", "A reason for processing (`newsletter`, "
                          "`promotions`…), named by a key unique in the tenant."),
    "GET /v1/purposes/{key}": ("Get a purpose", "One purpose by its key."),
    "GET /v1/notices": ("List notices", "Notices, newest version first; `purpose` filters. "
                        + BARE_OR_PAGED),
    "POST /v1/notices": (
        "Publish a notice version", "The text a person is shown when consenting, for a "
        "purpose, its channels and a language. Each publication is a new immutable version "
        "with the SHA-256 of its text; grants cite the version they were given under."),
    "GET /v1/notices/{notice_id}": ("Get a notice version", "One notice version, its text "
                                    "and digest."),
    "GET /v1/contacts": ("Find or list contacts", "Filter by exact `email`, `phone` (E.164 after "
                         "normalisation) or `external_id`. " + PAGED),
    "POST /v1/contacts": (
        "Create a contact", "At least one identifier (`email`, `phone` or `external_id`). A "
        "duplicate identifier is 409 with `existing_id` naming the contact that holds it."),
    "GET /v1/contacts/{contact_id}": ("Get a contact", "One contact of the tenant."),
    "PATCH /v1/contacts/{contact_id}": ("Change a contact", "Only the fields sent change."),
    "DELETE /v1/contacts/{contact_id}": (
        "Erase a contact", "A GDPR Art. 17 erasure, not a soft delete: identifiers and "
        "attributes are removed, ledger events keep their hashes only, the address goes on the "
        "suppression list by keyed hash. 204."),
    "DELETE /v1/contacts/{contact_id}/restriction": (
        "Lift a restriction", "Ends a GDPR Art. 18 restriction set by a request; the person is "
        "told by e-mail. 204."),
    "POST /v1/contacts/{contact_id}/consents": (
        "Record a consent event", "`grant` (with the `notice_id` shown), `withdraw` or `refuse` "
        "for one channel and purpose, appended to the tenant's hash-chained ledger. With "
        "`double_opt_in: true` the status stays `pending` and a confirmation e-mail is queued."),
    "GET /v1/contacts/{contact_id}/consents": (
        "Current consent states", "One entry per channel × purpose the contact has a state for: "
        "status, since when, and the ledger event that set it."),
    "GET /v1/contacts/{contact_id}/consent-events": ("A contact's ledger events",
                                                     "Oldest first. " + PAGED),
    "GET /v1/consent-check": (
        "May we contact this person?", "Give `email`, `phone` or `contact_id`, with `channel` "
        "and `purpose`. `allowed` is true only for a valid grant that is not suppressed, "
        "restricted or expired; an unknown person is `allowed:false, status:\"none\"`. For "
        "`channel=phone`, `at` (RFC 3339 with its zone) is the time of the intended call, "
        "checked against the calling rules (`reason` says why not)."),
    "POST /v1/consent-check": (
        "Check many people at once", "Up to 1000 items, each like the single check; `results` "
        "answer in the same order."),
    "GET /v1/audit-events": ("Audit trail", "Who did what (keys, staff, system), newest "
                             "first. Scope `admin`. " + PAGED),
    "GET /v1/consent-events/{event_id}": ("Get a ledger event", "One consent event with its "
                                          "hash and the previous one."),
    "GET /v1/consent-events/{event_id}/receipt": (
        "Consent receipt", "`format=kantara` (default): a Kantara Consent Receipt v1.1 "
        "(`application/json`); `format=iso27560`: ISO/IEC TS 27560 as DPV JSON-LD "
        "(`application/ld+json`)."),
    "GET /v1/ledger/verify": (
        "Verify the ledger", "Recomputes the tenant's hash chain and checks every published "
        "checkpoint, in one snapshot: `{ok, events, first_broken_event}`."),
    "GET /v1/ledger/checkpoints": ("Published checkpoints", "Signed chain heads, oldest "
                                   "first. " + PAGED),
    "GET /v1/segments": ("List segments", "The tenant's segments. " + PAGED),
    "POST /v1/segments": (
        "Create a segment", "A name and `rules` in the segment language (a tagged union: "
        "`all`, `any`, `not`, `field`, `consent`, `activity`; see README). A bad node is a 422 "
        "naming its path, e.g. `rules[1].value`."),
    "GET /v1/segments/{segment_id}": ("Get a segment", "One segment and its rules."),
    "PATCH /v1/segments/{segment_id}": ("Change a segment", "Name and/or rules (checked as on "
                                        "creation)."),
    "DELETE /v1/segments/{segment_id}": ("Delete a segment", "The segment goes; contacts and "
                                         "consents are untouched. 204."),
    "GET /v1/segments/{segment_id}/count": (
        "Count a segment's audience", "Contacts matching the rules with valid consent for "
        "`channel` and `purpose` (not suppressed, not restricted)."),
    "GET /v1/segments/{segment_id}/export": (
        "Export a segment's audience", "Streamed: `csv` and `ndjson` rows carry "
        "`unsubscribe_url` and `preferences_url`; `hashed_csv` only SHA-256 of the normalised "
        "e-mail and phone; `meta` and `google` (with `channel=social_ads`) are the upload "
        "files of those platforms."),
    "GET /v1/suppressions": ("List the suppression list", "Entries by keyed hash, channel, "
                             "reason and date; never an address. " + PAGED),
    "POST /v1/suppressions": (
        "Suppress a person", "`email` or `phone`, optional `channel` (default `all`), "
        "`reason` (erasure, objection, complaint, bounce or manual). "
        "Suppressed people are never allowed by the consent check and are skipped by imports."),
    "DELETE /v1/suppressions": (
        "Take a person off the list", "One channel, or every entry of the person when no "
        "channel is named; `reason` is required and audited. 404 when not listed; 204."),
    "GET /v1/suppressions/check": ("Is this person suppressed?", "`email` or `phone`: "
                                   "`{suppressed, channels}`."),
    "GET /v1/requests": (
        "List data-subject requests", "Ordered by due date. `status`: `open`, `overdue`, "
        "`due_soon`, or one status (`unverified`, `verified`, `completed`, `rejected`, "
        "`lapsed`). " + PAGED),
    "POST /v1/requests": (
        "Record a data-subject request", "`kind` (access, portability, rectification, erasure, "
        "restriction, objection, withdrawal) for an `email` or `phone`. Without "
        "`identity_verified` the person is sent a verification e-mail; the one-month deadline "
        "(`due_at`) runs from receipt."),
    "GET /v1/requests/{request_id}": ("Get a request", "With its events (the trail)."),
    "POST /v1/requests/{request_id}/verify": ("Attest identity", "The caller checked who the "
                                              "person is; `note` says how."),
    "POST /v1/requests/{request_id}/extend": (
        "Extend the deadline", "By 1 or 2 months (GDPR Art. 12(3)), only within the first "
        "month; `reason` is told to the person."),
    "POST /v1/requests/{request_id}/complete": (
        "Complete a request", "Carries the request out (package, withdrawal, erasure, "
        "rectification with approved `changes`…) and tells the person."),
    "POST /v1/requests/{request_id}/reject": ("Reject a request", "`reason` is told to the "
                                              "person."),
    "GET /v1/requests/{request_id}/package": (
        "Access package", "The package of a completed access or portability request: a zip "
        "holding the person's data as JSON (`data.json`) and as CSV files."),
    "POST /v1/imports": (
        "Import contacts and consent proof", "The body is the file: `text/csv` (UTF-8, header "
        "row) or `application/x-ndjson`; the columns are in README (Import formats). 202 with "
        "the job; poll `GET /v1/imports/{id}`. A rejected row is listed with its line, column "
        "and reason; the others go in."),
    "GET /v1/imports/{import_id}": ("Import progress", "`{status, total, created, updated, "
                                    "rejected, errors[]}`."),
    "POST /v1/inbound/sms": (
        "Forward an inbound SMS", "A provider's inbound message (sender, text): a STOP keyword "
        "withdraws SMS consent for every purpose. 202 whatever the outcome."),
    "GET /v1/webhooks": ("List webhooks", BARE_OR_PAGED),
    "POST /v1/webhooks": (
        "Subscribe a webhook", "`url` (public https) and `events`. The answer holds the "
        "`secret` once: deliveries are signed with it (HMAC-SHA256)."),
    "DELETE /v1/webhooks/{endpoint_id}": ("Remove a webhook", "No more deliveries to it. 204."),
    "GET /v1/changes": (
        "Change feed", "Every consent state change, suppression and erasure, in commit order. "
        "Start without `after`, then poll with the last `next_cursor`; `has_more` says "
        "whether to ask again at once."),
    "GET /v1/inbound-endpoints": ("List inbound endpoints", "The tenant's endpoints for its "
                                  "e-mail providers' events (secrets not repeated)."),
    "POST /v1/inbound-endpoints": (
        "Connect an e-mail provider", "`provider`: ses, sendgrid, mailgun, postmark or brevo "
        "(with the provider's verification key where it signs). The answer has the `url` and "
        "the credentials to paste into the provider, shown once. Bounces, complaints and "
        "unsubscribes then reach the suppression list and the ledger."),
    "DELETE /v1/inbound-endpoints/{endpoint_id}": ("Disconnect a provider", "The endpoint "
                                                   "stops accepting events. 204."),
    "POST /inbound/{provider}/{endpoint_id}": (
        "Provider events (posted by the provider)", "Where SES (SNS), SendGrid, Mailgun, "
        "Postmark or Brevo post their events, in their own format. Authenticated by the "
        "provider's own scheme (signature, basic credentials or token), not a bearer key."),
    "GET /v1/forms": ("List embeddable forms", "Each form's latest version."),
    "POST /v1/forms": (
        "Create an embeddable form", "Fields, purposes, channels, language, texts, branding "
        "and the `allowed_origins` of the sites that embed it. The answer's `embed` has the "
        "snippet and the hosted URL."),
    "GET /v1/forms/{form_id}": ("Get a form", "Its latest version and `embed` snippet."),
    "PATCH /v1/forms/{form_id}": ("Change a form", "Each change is a new `version`; consents "
                                  "collected keep the version they were given under."),
    "GET /v1/reconsent-campaigns": ("List re-consent campaigns", "With their progress. " + PAGED),
    "POST /v1/reconsent-campaigns": (
        "Start a re-consent campaign", "Queues a re-consent e-mail to everyone in a segment's "
        "audience for a channel and purpose; answers the campaign with its progress."),
    "GET /v1/reconsent-campaigns/{campaign_id}": ("Get a campaign", "Sent, confirmed and "
                                                  "pending counts."),
    "POST /v1/notices/{notice_id}/require-reconsent": (
        "Require re-consent", "Consents given under older versions of this notice's purpose "
        "expire on `expires_at`."),
    "GET /v1/contacts/{contact_id}/contact-attempts": ("A contact's call attempts",
                                                       "Calls and attempted calls, newest "
                                                       "first."),
    "POST /v1/contacts/{contact_id}/contact-attempts": (
        "Record a call attempt", "Phone canvassing: `outcome: refused` starts the sixty-day "
        "pause, and every attempt counts towards four in thirty days."),
}
