"""Tenant walls in the schema: composite keys, append-only ledger, row-level security.

* Every unique key includes tenant_id (Citus-ready).
* A row can only reference a row of its own tenant: composite foreign keys on
  PostgreSQL, triggers on SQLite.
* consent_event accepts no DELETE and no UPDATE except blanking personal fields
  (erasure); notices never change.
* PostgreSQL: RLS enabled and forced on every tenant table; with no
  `app.tenant_id` set a query sees nothing. `optinbase_grant_app_role(role)`
  gives the application role exactly what it needs (run by `optinbase migrate`).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenant walls: composite keys, ledger guards, row-level security"

UNIQUE_INDEXES = [
    "CREATE UNIQUE INDEX contact_tenant_email ON contact (tenant_id, email)",
    "CREATE UNIQUE INDEX contact_tenant_phone ON contact (tenant_id, phone)",
    "CREATE UNIQUE INDEX contact_tenant_external_id ON contact (tenant_id, external_id)",
    "CREATE UNIQUE INDEX contact_tenant_id_id ON contact (tenant_id, id)",
    "CREATE UNIQUE INDEX purpose_tenant_key ON purpose (tenant_id, key)",
    "CREATE UNIQUE INDEX purpose_tenant_id_id ON purpose (tenant_id, id)",
    "CREATE UNIQUE INDEX notice_tenant_id_id ON notice (tenant_id, id)",
    "CREATE UNIQUE INDEX notice_tenant_purpose_version ON notice (tenant_id, purpose_id, version)",
    "CREATE UNIQUE INDEX consent_event_tenant_seq ON consent_event (tenant_id, seq)",
    "CREATE UNIQUE INDEX consent_event_tenant_id_id ON consent_event (tenant_id, id)",
    "CREATE INDEX consent_event_tenant_contact ON consent_event (tenant_id, contact_id, seq)",
    "CREATE UNIQUE INDEX ledger_head_tenant ON ledger_head (tenant_id)",
    "CREATE UNIQUE INDEX consent_state_key ON consent_state (tenant_id, contact_id, channel, purpose_id)",
    "CREATE INDEX audit_event_tenant_at ON audit_event (tenant_id, at, id)",
    "CREATE UNIQUE INDEX idempotency_record_tenant_key ON idempotency_record (tenant_id, key)",
    "CREATE INDEX api_key_tenant ON api_key (tenant_id)",
]

# Which tenant table refers to which: (table, columns, target, on delete).
REFERENCES = [
    ("notice", "purpose_id", "purpose", "RESTRICT"),
    ("consent_event", "contact_id", "contact", "SET NULL (contact_id)"),
    ("consent_event", "purpose_id", "purpose", "RESTRICT"),
    ("consent_event", "notice_id", "notice", "RESTRICT"),
    ("consent_state", "contact_id", "contact", "CASCADE"),
    ("consent_state", "purpose_id", "purpose", "RESTRICT"),
    ("consent_state", "event_id", "consent_event", "RESTRICT"),
]

TENANT_TABLES = [
    "api_key",
    "contact",
    "purpose",
    "notice",
    "consent_event",
    "ledger_head",
    "consent_state",
    "audit_event",
    "idempotency_record",
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

PG_FUNCTIONS = [
    # '' after first use in a session, hence nullif; NULL makes every policy false.
    """CREATE FUNCTION optinbase_tenant() RETURNS uuid LANGUAGE sql STABLE AS
       $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$""",
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
    "CREATE TRIGGER consent_event_guard BEFORE UPDATE OR DELETE ON consent_event "
    "FOR EACH ROW EXECUTE FUNCTION optinbase_ledger_guard()",
    "CREATE TRIGGER notice_guard BEFORE UPDATE ON notice "
    "FOR EACH ROW EXECUTE FUNCTION optinbase_notice_guard()",
    # Grants for the application role: no DDL, no DELETE on the ledger, UPDATE on
    # the ledger limited to the personal columns erasure blanks.
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         EXECUTE format('GRANT USAGE ON SCHEMA public TO %%I', app_role);
         EXECUTE format('GRANT SELECT ON agency, tenant TO %%I', app_role);
         EXECUTE format('GRANT UPDATE (name, legal_name, dpo_email, country, settings) ON tenant TO %%I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON staff_user, membership TO %%I', app_role);
         EXECUTE format('GRANT SELECT, INSERT ON api_key TO %%I', app_role);
         EXECUTE format('GRANT UPDATE (name, last_used_at, revoked_at) ON api_key TO %%I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON contact, consent_state, idempotency_record TO %%I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE ON purpose, ledger_head TO %%I', app_role);
         EXECUTE format('GRANT SELECT, INSERT ON notice, consent_event, audit_event TO %%I', app_role);
         EXECUTE format('GRANT UPDATE (contact_id, ip, user_agent, pii_salt) ON consent_event TO %%I', app_role);
         EXECUTE format('GRANT UPDATE (details, actor) ON audit_event TO %%I', app_role);
         EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %%I', app_role);
       END $$""",
]


def _pg_statements() -> list[str]:
    statements = list(UNIQUE_INDEXES)
    for table, column, target, on_delete in REFERENCES:
        statements.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_tenant "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id) "
            f"ON DELETE {on_delete}"
        )
    personal_changed = " OR ".join(
        f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in LEDGER_PERSONAL
    )
    values = {
        "new_fixed": ", ".join(f"NEW.{c}" for c in LEDGER_FIXED),
        "old_fixed": ", ".join(f"OLD.{c}" for c in LEDGER_FIXED),
        "personal_changed": personal_changed,
        "notice_new": ", ".join(f"NEW.{c}" for c in NOTICE_FIXED),
        "notice_old": ", ".join(f"OLD.{c}" for c in NOTICE_FIXED),
    }
    statements += [s % values if "%(" in s else s.replace("%%", "%") for s in PG_FUNCTIONS]
    for table in TENANT_TABLES:
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = optinbase_tenant()) WITH CHECK (tenant_id = optinbase_tenant())",
        ]
    # Authentication reads one key before any tenant is known: only the row
    # whose public key id the caller presents (app.key_id), never a listing.
    statements.append(
        "CREATE POLICY key_lookup ON api_key "
        "USING (key_id = nullif(current_setting('app.key_id', true), ''))"
    )
    statements.append(
        "CREATE POLICY agency_keys ON api_key USING (tenant_id IS NULL AND agency_id = "
        "nullif(current_setting('app.agency_id', true), '')::uuid)"
    )
    return statements


def _sqlite_statements() -> list[str]:
    statements = list(UNIQUE_INDEXES)
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
    statements += [
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
    ]
    return statements


async def _apply() -> None:
    engine = engine_finder()
    statements = _pg_statements() if engine.engine_type == "postgres" else _sqlite_statements()
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
