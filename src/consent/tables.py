"""Tenant data: contacts, purposes, notices, the consent ledger and its projection.

Every table carries `tenant_id NOT NULL`; every unique key includes it (see the
`constraints` migration). Foreign keys to tenant rows are composite
`(tenant_id, id)` on PostgreSQL and trigger-checked on SQLite, so a row can never
point at another tenant's row.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.readable import Readable
from piccolo.table import Table

from tenants.tables import Tenant


def _tenant() -> ForeignKey:
    return ForeignKey(
        Tenant, null=False, on_delete=OnDelete.restrict, db_column_name="tenant_id"
    )


class Contact(Table, tablename="contact"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    email = Varchar(length=254, null=True, default=None)
    phone = Varchar(length=20, null=True, default=None)
    external_id = Varchar(length=200, null=True, default=None)
    first_name = Varchar(length=200, null=True, default=None)
    last_name = Varchar(length=200, null=True, default=None)
    locale = Varchar(length=35, null=True, default=None)
    country = Varchar(length=2, null=True, default=None)
    postal_code = Varchar(length=20, null=True, default=None)
    birth_year = Integer(null=True, default=None)
    gender = Varchar(length=20, null=True, default=None)
    language = Varchar(length=35, null=True, default=None)
    attributes = JSONB(default={})
    source = Varchar(length=500, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_activity_at = Timestamptz(null=True, default=None)
    # HMAC of the normalised e-mail / phone under the tenant secret, as in
    # `suppression`: count and export drop suppressed people with a plain
    # anti-join instead of hashing every contact in Python.
    email_hash = Varchar(length=64, null=True, default=None)
    phone_hash = Varchar(length=64, null=True, default=None)
    # GDPR Art. 18: kept, but out of every export, count and consent check.
    restricted_at = Timestamptz(null=True, default=None)
    # CNIL retention: when the "do you still want to hear from us?" e-mail went.
    repermission_sent_at = Timestamptz(null=True, default=None)

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.email])


class Purpose(Table, tablename="purpose"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    key = Varchar(length=63)
    name = Varchar(length=200)
    description = Text(default="")
    legal_basis = Varchar(length=32, default="consent")
    dpv_purpose = Varchar(length=100, default="")
    retired = Boolean(default=False)
    created_at = Timestamptz()
    # `marketing`, or `tracking`: individual open/click measurement in e-mails,
    # a consent of its own (consent.tracking).
    kind = Varchar(length=16, default="marketing")
    # How long a consent to this purpose lasts; None: until withdrawn (consent.expiry).
    validity_months = Integer(null=True, default=None)

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.key])


class Notice(Table, tablename="notice"):
    """The exact wording shown when consent was asked. Never updated."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    purpose = ForeignKey(Purpose, on_delete=OnDelete.restrict, db_column_name="purpose_id")
    channels = JSONB(default=[])
    language = Varchar(length=35)
    version = Integer()
    text = Text()
    text_sha256 = Varchar(length=64)
    partners = JSONB(default=[])
    policy_url = Varchar(length=2000, null=True, default=None)
    created_at = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="v%s (%s)", columns=[cls.version, cls.language])

    @classmethod
    def _get_related_readable(cls, column: ForeignKey) -> Readable:
        """What the admin lists beside each foreign key (piccolo_api's
        `__readable`). Piccolo reads a key's readable through a join on the key
        alone — `notice.purpose_id = purpose.id`, two tables sharded by tenant,
        which Citus refuses ("complex joins are only supported when all
        distributed tables are co-located and joined on their distribution
        columns"). The purpose's is the id itself here, no join: the admin
        names it within the row's tenant (admin.references). The tenant's own
        (a reference table on Citus) is Piccolo's."""
        if column._meta.name == cls.purpose._meta.name:
            return Readable(template="%s", columns=[cls.purpose],
                            output_name=f"{column._meta.name}_readable")
        return super()._get_related_readable(column)


class ConsentEvent(Table, tablename="consent_event"):
    """The append-only ledger, hash-chained per tenant by `seq`.

    Personal fields (contact_id, ip, user_agent, pii_salt, and `source` from
    chain format 2) are only ever blanked, by erasure; `personal_digest` keeps
    the chain verifiable after that (consent.ledger.chain).
    """

    id = UUID(primary_key=True)
    tenant = _tenant()
    seq = BigInt()
    contact_id = UUID(null=True, default=None)
    channel = Varchar(length=16)
    purpose_id = UUID()
    action = Varchar(length=16)
    notice_id = UUID(null=True, default=None)
    method = Varchar(length=32)
    source = Varchar(length=2000, null=True, default=None)
    collected_at = Timestamptz()
    recorded_at = Timestamptz()
    actor = Varchar(length=200, null=True, default=None)
    ip = Varchar(length=64, null=True, default=None)
    user_agent = Varchar(length=1000, null=True, default=None)
    pii_salt = Varchar(length=32, null=True, default=None)
    personal_digest = Varchar(length=64)
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)
    chain_format = Integer(default=1)  # consent.ledger.chain: 2 for every new event


class LedgerHead(Table, tablename="ledger_head"):
    """Last link of each tenant's chain; its row lock serialises appends."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    seq = BigInt(default=0)
    hash = Varchar(length=64)
    # Last number of the change feed (consent/changes.py): taken under this row's lock.
    change_seq = BigInt(default=0)


class ConsentState(Table, tablename="consent_state"):
    """Current status per contact × channel × purpose; a projection of the ledger."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    contact_id = UUID()
    channel = Varchar(length=16)
    purpose_id = UUID()
    status = Varchar(length=16)
    since = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    event_id = UUID()
    updated_at = Timestamptz()
    # When the "your consent expires soon" e-mail went for this grant.
    reminded_at = Timestamptz(null=True, default=None)


class ChangeLog(Table, tablename="change_log"):
    """The change feed (`GET /v1/changes`): every consent state change,
    suppression and erasure of a tenant, `seq` in commit order."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    seq = BigInt()
    kind = Varchar(length=16)  # consent | suppression | erasure
    contact_id = UUID(null=True, default=None)
    channel = Varchar(length=16, null=True, default=None)
    purpose_id = UUID(null=True, default=None)
    status = Varchar(length=16, null=True, default=None)
    reason = Varchar(length=16, null=True, default=None)
    event_id = UUID(null=True, default=None)  # the ledger event of a consent change
    at = Timestamptz()


class FormVersion(Table, tablename="form_version"):
    """One version of a tenant's embeddable form (consent/forms): immutable,
    like a notice; `form_id` is the form, `definition` everything it shows."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    form_id = UUID()
    version = Integer()
    name = Varchar(length=200)
    definition = JSONB(default={})
    created_at = Timestamptz()


class AuditEvent(Table, tablename="audit_event"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    at = Timestamptz()
    actor = Varchar(length=200)
    action = Varchar(length=64)
    object_type = Varchar(length=32)
    object_id = Varchar(length=64, null=True, default=None)
    details = JSONB(default={})


class Segment(Table, tablename="segment"):
    """A saved audience: rules in the segment language (consent.segments.rules)."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    name = Varchar(length=200)
    rules = JSONB(default={})
    created_at = Timestamptz()
    updated_at = Timestamptz()


class IdempotencyRecord(Table, tablename="idempotency_record"):
    """First answer to a write sent with an `Idempotency-Key`, replayed on retry."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    key = Varchar(length=255)
    fingerprint = Varchar(length=64)
    status_code = Integer()
    content_type = Varchar(length=100)
    body = Text()
    created_at = Timestamptz()


class Suppression(Table, tablename="suppression"):
    """A person who must not be contacted (or re-imported) on a channel or at all.

    Only a keyed hash of the normalised e-mail or phone is kept (HMAC-SHA256 with
    the tenant secret), so the list outlives erasure without holding the address.
    """

    id = UUID(primary_key=True)
    tenant = _tenant()
    identifier_hash = Varchar(length=64)
    kind = Varchar(length=8)  # email | phone
    channel = Varchar(length=16)  # a channel or "all"
    reason = Varchar(length=16)  # erasure | objection | complaint | bounce | manual
    created_at = Timestamptz()


class ImportJob(Table, tablename="import_job"):
    """One bulk import and its report. `errors` holds line, column and reason
    only (never the rejected values), bounded to the first 1,000."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    status = Varchar(length=16)  # queued | running | done | failed
    format = Varchar(length=8)  # csv | ndjson
    total = Integer(default=0)
    created = Integer(default=0)
    updated = Integer(default=0)
    rejected = Integer(default=0)
    errors = JSONB(default=[])
    detail = Text(default="")
    actor = Varchar(length=200)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    # Chunked commits (consent.imports.runner): rows committed so far, the
    # file's digest (to resume it), when the last chunk committed.
    rows_done = Integer(default=0)
    file_sha256 = Varchar(length=64, null=True, default=None)
    progressed_at = Timestamptz(null=True, default=None)


class DataSubjectRequest(Table, tablename="data_subject_request"):
    """A GDPR request (Art. 15–21) and where it stands; its trail is RequestEvent.

    `email` / `phone` are what the person gave, kept only while they are needed
    to answer; `subject_hash` (HMAC under the tenant secret, as in suppression)
    recognises duplicates and is all that remains once the person is erased.
    """

    id = UUID(primary_key=True)
    tenant = _tenant()
    kind = Varchar(length=16)  # access portability rectification erasure withdrawal objection restriction
    status = Varchar(length=16)  # unverified | verified | completed | rejected | lapsed
    source = Varchar(length=16)  # public | api | staff
    email = Varchar(length=254, null=True, default=None)
    phone = Varchar(length=20, null=True, default=None)
    subject_hash = Varchar(length=64, secret=True)  # secret: never listed in the admin
    contact_id = UUID(null=True, default=None)
    locale = Varchar(length=35, null=True, default=None)
    note = Text(default="")
    changes = JSONB(default={})  # rectification: the fields the person asks to change
    verification = Varchar(length=16, null=True, default=None)  # link | staff | api
    received_at = Timestamptz()
    verified_at = Timestamptz(null=True, default=None)
    due_at = Timestamptz()
    extended_months = Integer(default=0)
    extension_reason = Text(default="")
    closed_at = Timestamptz(null=True, default=None)
    outcome = Text(default="")
    package = Bytea(null=True, default=None, secret=True)  # access / portability: the zip
    package_expires_at = Timestamptz(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class RequestEvent(Table, tablename="request_event"):
    """Every transition of a request, with who and when. Details hold no
    personal data (kinds, reasons' presence, counts), so nothing to scrub."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    request_id = UUID()
    at = Timestamptz()
    actor = Varchar(length=200)
    action = Varchar(length=32)
    details = JSONB(default={})


class ReconsentCampaign(Table, tablename="reconsent_campaign"):
    """A re-permission campaign: a segment's people asked to agree to a new
    notice (consent.reconsent). `sent`, `confirmed` and `pending` (sent, not
    yet confirmed) are its progress, as the admin shows it."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    name = Varchar(length=200)
    segment_id = UUID()
    purpose_id = UUID()
    channel = Varchar(length=16)
    notice_id = UUID()
    actor = Varchar(length=200)
    created_at = Timestamptz()
    sent = Integer(default=0)
    confirmed = Integer(default=0)
    pending = Integer(default=0)

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.name])


class ReconsentRequest(Table, tablename="reconsent_request"):
    """One person asked to consent again, by a campaign or an expiry reminder."""

    id = UUID(primary_key=True)
    tenant = _tenant()
    campaign_id = UUID(null=True, default=None)
    contact_id = UUID()
    purpose_id = UUID()
    channel = Varchar(length=16)
    notice_id = UUID()  # the notice shown on the re-consent page
    reason = Varchar(length=16)  # campaign | expiry
    sent_at = Timestamptz()
    confirmed_at = Timestamptz(null=True, default=None)
