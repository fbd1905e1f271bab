"""Segment walls and the indexes segment counts and exports read.

* segment: unique (tenant_id, id); RLS enabled, forced, `tenant_isolation`
  policy on PostgreSQL; the application role may read and write it
  (`optinbase_grant_app_role` is replaced with every earlier grant kept).
* Audience queries start from consent_state by (tenant, channel, purpose,
  status) and walk contact ids in order (keyset export batches); expires_at
  is carried so "valid now" is read from the index alone.
* Demographic rules filter on typed contact columns, each behind tenant_id.
  On PostgreSQL postal_code is indexed in the "C" collation, the collation
  segment rules use for prefixes and ranges (code point order, as on SQLite),
  so `postal_code prefix "75"` is an index range scan.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T01:18:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "segment walls and audience indexes"

INDEXES = [
    "CREATE UNIQUE INDEX segment_tenant_id_id ON segment (tenant_id, id)",
    "CREATE INDEX segment_tenant_created ON segment (tenant_id, created_at, id)",
    "CREATE INDEX consent_state_audience ON consent_state"
    " (tenant_id, channel, purpose_id, status, contact_id, expires_at)",
    "CREATE INDEX contact_tenant_country ON contact (tenant_id, country)",
    "CREATE INDEX contact_tenant_birth_year ON contact (tenant_id, birth_year)",
    "CREATE INDEX contact_tenant_last_activity ON contact (tenant_id, last_activity_at)",
]
POSTAL_CODE = {
    "postgres": 'CREATE INDEX contact_tenant_postal_code ON contact (tenant_id, postal_code COLLATE "C")',
    "sqlite": "CREATE INDEX contact_tenant_postal_code ON contact (tenant_id, postal_code)",
}

PG_STATEMENTS = [
    "ALTER TABLE segment ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE segment FORCE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_isolation ON segment "
    "USING (tenant_id = optinbase_tenant()) WITH CHECK (tenant_id = optinbase_tenant())",
    # Every grant of consent_2026_11_29t01_00_00_000000, plus segment.
    """CREATE OR REPLACE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app_role);
         EXECUTE format('GRANT SELECT ON agency, tenant TO %I', app_role);
         EXECUTE format('GRANT UPDATE (name, legal_name, dpo_email, country, settings) ON tenant TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON staff_user, membership TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT ON api_key TO %I', app_role);
         EXECUTE format('GRANT UPDATE (name, last_used_at, revoked_at) ON api_key TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON contact, consent_state, idempotency_record TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE ON purpose, ledger_head TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT ON notice, consent_event, audit_event TO %I', app_role);
         EXECUTE format('GRANT UPDATE (contact_id, ip, user_agent, pii_salt) ON consent_event TO %I', app_role);
         EXECUTE format('GRANT UPDATE (details, actor) ON audit_event TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON segment TO %I', app_role);
         EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %I', app_role);
       END $$""",
]


async def _apply() -> None:
    engine = engine_finder()
    postgres = engine.engine_type == "postgres"
    statements = [*INDEXES, POSTAL_CODE["postgres" if postgres else "sqlite"]]
    if postgres:
        statements += PG_STATEMENTS
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
