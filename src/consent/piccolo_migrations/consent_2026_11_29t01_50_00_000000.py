"""Walls for the suppression list and import jobs; hashes of existing contacts.

* Unique keys include tenant_id; RLS enabled and forced on both tables.
* `optinbase_grant_app_role` is wrapped, not rewritten: the previous version
  (whatever earlier migrations made of it) is renamed and called first, so no
  earlier grant is lost whichever migrations land beside this one. The app role
  also gets TEMPORARY on the database: imports COPY into temporary staging
  tables (COPY into an RLS table is refused).
* Contacts that existed before `contact.email_hash` / `phone_hash` get them
  computed here (the HMAC cannot be computed in SQL portably).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T01:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "suppression and import walls, grants, contact hash backfill"

INDEXES = [
    "CREATE UNIQUE INDEX suppression_tenant_hash_channel"
    " ON suppression (tenant_id, identifier_hash, channel)",
    "CREATE UNIQUE INDEX import_job_tenant_id_id ON import_job (tenant_id, id)",
    "CREATE INDEX import_job_tenant_created ON import_job (tenant_id, created_at)",
]

TABLES = ["suppression", "import_job"]

PG_GRANTS = [
    "ALTER FUNCTION optinbase_grant_app_role(text)"
    " RENAME TO optinbase_grant_app_role_before_imports",
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM optinbase_grant_app_role_before_imports(app_role);
         EXECUTE format('GRANT SELECT, INSERT ON suppression TO %I', app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE ON import_job TO %I', app_role);
         EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), app_role);
       END $$""",
]


async def _backfill_contact_hashes(engine) -> None:
    from consent.suppression import hashes_of
    from optinbase import db

    postgres = engine.engine_type == "postgres"
    for tenant in await db.fetch("SELECT id, secret FROM tenant"):
        if postgres:  # RLS is forced on the owner too
            await db.execute("SELECT set_config('app.tenant_id', {}, true)", str(tenant["id"]))
        key = tenant["secret"].encode()
        rows = await db.fetch(
            "SELECT id, email, phone FROM contact WHERE tenant_id = {}"
            " AND (email IS NOT NULL OR phone IS NOT NULL)",
            tenant["id"],
        )
        await db.executemany(
            "UPDATE contact SET email_hash = {}, phone_hash = {}"
            " WHERE tenant_id = {} AND id = {}",
            [(*hashes_of(key, r["email"], r["phone"]), tenant["id"], r["id"]) for r in rows],
        )


async def _apply() -> None:
    engine = engine_finder()
    statements = list(INDEXES)
    if engine.engine_type == "postgres":
        for table in TABLES:
            statements += [
                f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING (tenant_id = optinbase_tenant()) WITH CHECK (tenant_id = optinbase_tenant())",
            ]
        statements += PG_GRANTS
    for statement in statements:
        await engine.run_ddl(statement)
    await _backfill_contact_hashes(engine)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
