"""Walls for data-subject requests and their trail.

* Unique keys include tenant_id; lists by status and due date, and duplicate
  detection by subject hash, are index probes within one tenant.
* A request can only name a contact of its own tenant, an event only a request
  of its own tenant: composite foreign keys on PostgreSQL, triggers on SQLite.
  Erasing a contact leaves its requests (their trail is the record of what was
  done) with the contact link cleared.
* request_event accepts no UPDATE or DELETE: it is the request's history.
* PostgreSQL: RLS enabled and forced, with the admin's tenant-list policy;
  `optinbase_grant_app_role` is wrapped (renamed and called), not rewritten.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T03:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "data-subject request walls"

INDEXES = [
    "CREATE UNIQUE INDEX data_subject_request_tenant_id_id ON data_subject_request (tenant_id, id)",
    "CREATE INDEX data_subject_request_tenant_status_due"
    " ON data_subject_request (tenant_id, status, due_at)",
    "CREATE INDEX data_subject_request_tenant_subject"
    " ON data_subject_request (tenant_id, subject_hash)",
    "CREATE INDEX data_subject_request_tenant_contact"
    " ON data_subject_request (tenant_id, contact_id)",
    "CREATE UNIQUE INDEX request_event_tenant_id_id ON request_event (tenant_id, id)",
    "CREATE INDEX request_event_tenant_request ON request_event (tenant_id, request_id, at)",
]

REFERENCES = [
    ("data_subject_request", "contact_id", "contact", "SET NULL (contact_id)"),
    ("request_event", "request_id", "data_subject_request", "RESTRICT"),
]

TABLES = ["data_subject_request", "request_event"]
POLICY = "tenant_id = optinbase_tenant() OR tenant_id = ANY(optinbase_tenant_ids())"

PG_GRANTS = [
    "ALTER FUNCTION optinbase_grant_app_role(text)"
    " RENAME TO optinbase_grant_app_role_before_requests",
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM optinbase_grant_app_role_before_requests(app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE ON data_subject_request TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT ON request_event TO %I', app_role);
       END $$""",
]


def _pg_statements() -> list[str]:
    statements = list(INDEXES)
    for table, column, target, on_delete in REFERENCES:
        statements.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_same_tenant "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id) "
            f"ON DELETE {on_delete}"
        )
    for table in TABLES:
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})",
        ]
    return statements + PG_GRANTS


def _sqlite_statements() -> list[str]:
    statements = list(INDEXES)
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
    statements += [
        "CREATE TRIGGER contact_clears_requests BEFORE DELETE ON contact "
        "BEGIN UPDATE data_subject_request SET contact_id = NULL "
        "WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
    ]
    return statements


TRAIL_GUARD = {
    "postgres": [
        """CREATE FUNCTION optinbase_request_trail_guard() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             RAISE EXCEPTION 'request_event is append-only' USING ERRCODE = 'check_violation';
           END $$""",
        "CREATE TRIGGER request_event_guard BEFORE UPDATE OR DELETE ON request_event "
        "FOR EACH ROW EXECUTE FUNCTION optinbase_request_trail_guard()",
    ],
    "sqlite": [
        "CREATE TRIGGER request_event_no_update BEFORE UPDATE ON request_event "
        "BEGIN SELECT RAISE(ABORT, 'request_event is append-only'); END",
        "CREATE TRIGGER request_event_no_delete BEFORE DELETE ON request_event "
        "BEGIN SELECT RAISE(ABORT, 'request_event is append-only'); END",
    ],
}


async def _apply() -> None:
    engine = engine_finder()
    postgres = engine.engine_type == "postgres"
    statements = _pg_statements() if postgres else _sqlite_statements()
    statements += TRAIL_GUARD["postgres" if postgres else "sqlite"]
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
