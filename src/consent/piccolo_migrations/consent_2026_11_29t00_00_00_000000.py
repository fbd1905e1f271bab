"""Tenant data: contacts, purposes, notices, the ledger and its projection,
audit, idempotency, segments, suppressions, imports, data-subject requests.

Squashed from the first migrations (no deployment existed). The classes below
are the tables as this migration creates them (frozen: the models in
consent/tables.py may move on). The walls:

* Every unique key includes tenant_id; each table has the indexes its queries
  probe within one tenant. Audience queries start from consent_state by
  (tenant, channel, purpose, status) and walk contact ids in order; on
  PostgreSQL postal_code is indexed in the "C" collation that segment rules use
  for prefixes and ranges, so `postal_code prefix "75"` is an index range scan.
* A row can only reference a row of its own tenant: composite foreign keys on
  PostgreSQL, triggers on SQLite. consent_event and consent_state have no
  foreign key to tenant on PostgreSQL: their NOT NULL composite purpose keys
  imply it, and it cost ~9 % of a large import (bench/README.md).
* consent_event accepts no DELETE and no UPDATE except blanking personal fields
  (erasure); notices never change; request_event (a request's trail) never
  changes either. One open request per person and kind: a partial unique index,
  so two simultaneous submissions make one request.
* PostgreSQL: RLS enabled and forced on every table, rows visible under
  `optinbase.schema.TENANT_POLICY`.
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import (
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
from piccolo.table import Table

from optinbase.schema import Migration, add_tables, is_postgres, row_level_security, run_ddl

ID = "2026-11-29T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenant data, its keys, ledger guards and row-level security"


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)


def _tenant() -> ForeignKey:
    return ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")


class Purpose(Table, tablename="purpose"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    key = Varchar(length=63)
    name = Varchar(length=200)
    description = Text()
    legal_basis = Varchar(length=32, default="consent")
    dpv_purpose = Varchar(length=100)
    retired = Boolean()
    created_at = Timestamptz()


class Contact(Table, tablename="contact"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    email = Varchar(length=254, default=None, null=True)
    phone = Varchar(length=20, default=None, null=True)
    external_id = Varchar(length=200, default=None, null=True)
    first_name = Varchar(length=200, default=None, null=True)
    last_name = Varchar(length=200, default=None, null=True)
    locale = Varchar(length=35, default=None, null=True)
    country = Varchar(length=2, default=None, null=True)
    postal_code = Varchar(length=20, default=None, null=True)
    birth_year = Integer(default=None, null=True)
    gender = Varchar(length=20, default=None, null=True)
    language = Varchar(length=35, default=None, null=True)
    attributes = JSONB()
    source = Varchar(length=500, default=None, null=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_activity_at = Timestamptz(default=None, null=True)
    email_hash = Varchar(length=64, default=None, null=True)
    phone_hash = Varchar(length=64, default=None, null=True)
    repermission_sent_at = Timestamptz(default=None, null=True)
    restricted_at = Timestamptz(default=None, null=True)


class Notice(Table, tablename="notice"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    purpose = ForeignKey(Purpose, on_delete=OnDelete.restrict, db_column_name="purpose_id")
    channels = JSONB(default="[]")
    language = Varchar(length=35)
    version = Integer()
    text = Text()
    text_sha256 = Varchar(length=64)
    partners = JSONB(default="[]")
    policy_url = Varchar(length=2000, default=None, null=True)
    created_at = Timestamptz()


class ConsentEvent(Table, tablename="consent_event"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    seq = BigInt()
    contact_id = UUID(default=None, null=True)
    channel = Varchar(length=16)
    purpose_id = UUID()
    action = Varchar(length=16)
    notice_id = UUID(default=None, null=True)
    method = Varchar(length=32)
    source = Varchar(length=2000, default=None, null=True)
    collected_at = Timestamptz()
    recorded_at = Timestamptz()
    actor = Varchar(length=200, default=None, null=True)
    ip = Varchar(length=64, default=None, null=True)
    user_agent = Varchar(length=1000, default=None, null=True)
    pii_salt = Varchar(length=32, default=None, null=True)
    personal_digest = Varchar(length=64)
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)


class LedgerHead(Table, tablename="ledger_head"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    seq = BigInt()
    hash = Varchar(length=64)


class ConsentState(Table, tablename="consent_state"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    contact_id = UUID()
    channel = Varchar(length=16)
    purpose_id = UUID()
    status = Varchar(length=16)
    since = Timestamptz()
    expires_at = Timestamptz(default=None, null=True)
    event_id = UUID()
    updated_at = Timestamptz()


class AuditEvent(Table, tablename="audit_event"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    at = Timestamptz()
    actor = Varchar(length=200)
    action = Varchar(length=64)
    object_type = Varchar(length=32)
    object_id = Varchar(length=64, default=None, null=True)
    details = JSONB()


class IdempotencyRecord(Table, tablename="idempotency_record"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    key = Varchar()
    fingerprint = Varchar(length=64)
    status_code = Integer()
    content_type = Varchar(length=100)
    body = Text()
    created_at = Timestamptz()


class Segment(Table, tablename="segment"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    name = Varchar(length=200)
    rules = JSONB()
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ImportJob(Table, tablename="import_job"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    status = Varchar(length=16)
    format = Varchar(length=8)
    total = Integer()
    created = Integer()
    updated = Integer()
    rejected = Integer()
    errors = JSONB(default="[]")
    detail = Text()
    actor = Varchar(length=200)
    created_at = Timestamptz()
    finished_at = Timestamptz(default=None, null=True)


class Suppression(Table, tablename="suppression"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    identifier_hash = Varchar(length=64)
    kind = Varchar(length=8)
    channel = Varchar(length=16)
    reason = Varchar(length=16)
    created_at = Timestamptz()


class DataSubjectRequest(Table, tablename="data_subject_request"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    kind = Varchar(length=16)
    status = Varchar(length=16)
    source = Varchar(length=16)
    email = Varchar(length=254, default=None, null=True)
    phone = Varchar(length=20, default=None, null=True)
    subject_hash = Varchar(length=64, secret=True)
    contact_id = UUID(default=None, null=True)
    locale = Varchar(length=35, default=None, null=True)
    note = Text()
    changes = JSONB()
    verification = Varchar(length=16, default=None, null=True)
    received_at = Timestamptz()
    verified_at = Timestamptz(default=None, null=True)
    due_at = Timestamptz()
    extended_months = Integer()
    extension_reason = Text()
    closed_at = Timestamptz(default=None, null=True)
    outcome = Text()
    package = Bytea(default=None, null=True, secret=True)
    package_expires_at = Timestamptz(default=None, null=True)
    reminded_at = Timestamptz(default=None, null=True)
    updated_at = Timestamptz()


class RequestEvent(Table, tablename="request_event"):
    id = UUID(primary_key=True)
    tenant = _tenant()
    request_id = UUID()
    at = Timestamptz()
    actor = Varchar(length=200)
    action = Varchar(length=32)
    details = JSONB()


TABLES = [
    ConsentEvent, ConsentState, AuditEvent, LedgerHead, Contact, Notice, IdempotencyRecord,
    Purpose, Segment, ImportJob, Suppression, RequestEvent, DataSubjectRequest,
]

INDEXES = [
    "CREATE UNIQUE INDEX contact_tenant_email ON contact (tenant_id, email)",
    "CREATE UNIQUE INDEX contact_tenant_phone ON contact (tenant_id, phone)",
    "CREATE UNIQUE INDEX contact_tenant_external_id ON contact (tenant_id, external_id)",
    "CREATE UNIQUE INDEX contact_tenant_id_id ON contact (tenant_id, id)",
    "CREATE INDEX contact_tenant_country ON contact (tenant_id, country)",
    "CREATE INDEX contact_tenant_birth_year ON contact (tenant_id, birth_year)",
    "CREATE INDEX contact_tenant_last_activity ON contact (tenant_id, last_activity_at)",
    "CREATE UNIQUE INDEX purpose_tenant_key ON purpose (tenant_id, key)",
    "CREATE UNIQUE INDEX purpose_tenant_id_id ON purpose (tenant_id, id)",
    "CREATE UNIQUE INDEX notice_tenant_id_id ON notice (tenant_id, id)",
    "CREATE UNIQUE INDEX notice_tenant_purpose_version ON notice (tenant_id, purpose_id, version)",
    "CREATE UNIQUE INDEX consent_event_tenant_seq ON consent_event (tenant_id, seq)",
    "CREATE UNIQUE INDEX consent_event_tenant_id_id ON consent_event (tenant_id, id)",
    "CREATE INDEX consent_event_tenant_contact ON consent_event (tenant_id, contact_id, seq)",
    "CREATE UNIQUE INDEX ledger_head_tenant ON ledger_head (tenant_id)",
    "CREATE UNIQUE INDEX consent_state_key ON consent_state (tenant_id, contact_id, channel, purpose_id)",
    "CREATE INDEX consent_state_audience ON consent_state"
    " (tenant_id, channel, purpose_id, status, contact_id, expires_at)",
    "CREATE INDEX audit_event_tenant_at ON audit_event (tenant_id, at, id)",
    "CREATE UNIQUE INDEX idempotency_record_tenant_key ON idempotency_record (tenant_id, key)",
    "CREATE UNIQUE INDEX segment_tenant_id_id ON segment (tenant_id, id)",
    "CREATE INDEX segment_tenant_created ON segment (tenant_id, created_at, id)",
    "CREATE UNIQUE INDEX suppression_tenant_hash_channel"
    " ON suppression (tenant_id, identifier_hash, channel)",
    "CREATE UNIQUE INDEX import_job_tenant_id_id ON import_job (tenant_id, id)",
    "CREATE INDEX import_job_tenant_created ON import_job (tenant_id, created_at)",
    "CREATE UNIQUE INDEX data_subject_request_tenant_id_id ON data_subject_request (tenant_id, id)",
    "CREATE INDEX data_subject_request_tenant_status_due"
    " ON data_subject_request (tenant_id, status, due_at)",
    "CREATE INDEX data_subject_request_tenant_subject"
    " ON data_subject_request (tenant_id, subject_hash)",
    "CREATE INDEX data_subject_request_tenant_contact"
    " ON data_subject_request (tenant_id, contact_id)",
    "CREATE UNIQUE INDEX data_subject_request_one_open"
    " ON data_subject_request (tenant_id, subject_hash, kind)"
    " WHERE status IN ('unverified', 'verified')",
    "CREATE UNIQUE INDEX request_event_tenant_id_id ON request_event (tenant_id, id)",
    "CREATE INDEX request_event_tenant_request ON request_event (tenant_id, request_id, at)",
]
POSTAL_CODE = {
    "postgres": 'CREATE INDEX contact_tenant_postal_code ON contact (tenant_id, postal_code COLLATE "C")',
    "sqlite": "CREATE INDEX contact_tenant_postal_code ON contact (tenant_id, postal_code)",
}

# Which tenant table refers to which: (table, column, target, on delete).
# Erasing a contact keeps its ledger events and its requests (their trail is
# the record of what was done) with the contact link cleared.
REFERENCES = [
    ("notice", "purpose_id", "purpose", "RESTRICT"),
    ("consent_event", "contact_id", "contact", "SET NULL (contact_id)"),
    ("consent_event", "purpose_id", "purpose", "RESTRICT"),
    ("consent_event", "notice_id", "notice", "RESTRICT"),
    ("consent_state", "contact_id", "contact", "CASCADE"),
    ("consent_state", "purpose_id", "purpose", "RESTRICT"),
    ("consent_state", "event_id", "consent_event", "RESTRICT"),
    ("data_subject_request", "contact_id", "contact", "SET NULL (contact_id)"),
    ("request_event", "request_id", "data_subject_request", "RESTRICT"),
]

# Columns of a ledger event that erasure may set to NULL; nothing else may change.
LEDGER_PERSONAL = ["contact_id", "ip", "user_agent", "pii_salt"]
LEDGER_FIXED = [
    "id", "tenant_id", "seq", "channel", "purpose_id", "action", "notice_id",
    "method", "source", "collected_at", "recorded_at", "actor",
    "personal_digest", "prev_hash", "hash",
]
NOTICE_FIXED = ["id", "tenant_id", "purpose_id", "channels", "language", "version",
                "text", "text_sha256", "partners", "policy_url"]

PG_GUARDS = [
    """CREATE FUNCTION optinbase_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'consent_event is append-only' USING ERRCODE = 'check_violation';
         END IF;
         IF ROW(%(new_fixed)s) IS DISTINCT FROM ROW(%(old_fixed)s) OR %(personal_changed)s THEN
           RAISE EXCEPTION 'consent_event is append-only: only erasure may blank personal fields'
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE FUNCTION optinbase_notice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF ROW(%(notice_new)s) IS DISTINCT FROM ROW(%(notice_old)s) THEN
           RAISE EXCEPTION 'notices are immutable' USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE FUNCTION optinbase_request_trail_guard() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             RAISE EXCEPTION 'request_event is append-only' USING ERRCODE = 'check_violation';
           END $$""",
    "CREATE TRIGGER consent_event_guard BEFORE UPDATE OR DELETE ON consent_event "
    "FOR EACH ROW EXECUTE FUNCTION optinbase_ledger_guard()",
    "CREATE TRIGGER notice_guard BEFORE UPDATE ON notice "
    "FOR EACH ROW EXECUTE FUNCTION optinbase_notice_guard()",
    "CREATE TRIGGER request_event_guard BEFORE UPDATE OR DELETE ON request_event "
    "FOR EACH ROW EXECUTE FUNCTION optinbase_request_trail_guard()",
]


def _pg_statements() -> list[str]:
    statements = [*INDEXES, POSTAL_CODE["postgres"]]
    for table, column, target, on_delete in REFERENCES:
        statements.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_tenant "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id) "
            f"ON DELETE {on_delete}"
        )
    for table in ("consent_event", "consent_state"):
        statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_id_fkey")
    values = {
        "new_fixed": ", ".join(f"NEW.{c}" for c in LEDGER_FIXED),
        "old_fixed": ", ".join(f"OLD.{c}" for c in LEDGER_FIXED),
        "personal_changed": " OR ".join(
            f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in LEDGER_PERSONAL
        ),
        "notice_new": ", ".join(f"NEW.{c}" for c in NOTICE_FIXED),
        "notice_old": ", ".join(f"OLD.{c}" for c in NOTICE_FIXED),
    }
    statements += [s % values if "%(" in s else s for s in PG_GUARDS]
    for table in TABLES:
        statements += row_level_security(table._meta.tablename)
    return statements


def _sqlite_statements() -> list[str]:
    statements = [*INDEXES, POSTAL_CODE["sqlite"]]
    for table, column, target, _ in REFERENCES:
        for event in ("INSERT", "UPDATE"):
            statements.append(
                f"CREATE TRIGGER {table}_{column}_same_tenant_{event.lower()} "
                f"BEFORE {event} ON {table} "
                f"WHEN NEW.{column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {target} WHERE id = NEW.{column} AND tenant_id = NEW.tenant_id) "
                f"BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: "
                f"{table}.{column} must reference a row of the same tenant'); END"
            )
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in LEDGER_FIXED)
    personal = " OR ".join(
        f"(NEW.{c} IS NOT NULL AND NEW.{c} IS NOT OLD.{c})" for c in LEDGER_PERSONAL
    )
    return statements + [
        "CREATE TRIGGER consent_event_no_delete BEFORE DELETE ON consent_event "
        "BEGIN SELECT RAISE(ABORT, 'consent_event is append-only'); END",
        f"CREATE TRIGGER consent_event_blank_only BEFORE UPDATE ON consent_event "
        f"WHEN {changed} OR {personal} "
        f"BEGIN SELECT RAISE(ABORT, 'consent_event is append-only: only erasure may "
        f"blank personal fields'); END",
        "CREATE TRIGGER notice_immutable BEFORE UPDATE ON notice WHEN "
        + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in NOTICE_FIXED)
        + " BEGIN SELECT RAISE(ABORT, 'notices are immutable'); END",
        "CREATE TRIGGER contact_keeps_ledger BEFORE DELETE ON contact "
        "BEGIN UPDATE consent_event SET contact_id = NULL "
        "WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; "
        "DELETE FROM consent_state WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
        "CREATE TRIGGER contact_clears_requests BEFORE DELETE ON contact "
        "BEGIN UPDATE data_subject_request SET contact_id = NULL "
        "WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
        "CREATE TRIGGER request_event_no_update BEFORE UPDATE ON request_event "
        "BEGIN SELECT RAISE(ABORT, 'request_event is append-only'); END",
        "CREATE TRIGGER request_event_no_delete BEFORE DELETE ON request_event "
        "BEGIN SELECT RAISE(ABORT, 'request_event is append-only'); END",
    ]


async def _walls() -> None:
    await run_ddl(_pg_statements() if is_postgres() else _sqlite_statements())


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    add_tables(manager, *TABLES)
    manager.after_tables.append(_walls)
    return manager
