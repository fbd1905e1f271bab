"""Admin panel walls: several tenants per transaction, sessions.

Agency staff see every tenant of their agency in one admin list, so an admin
request may run under several tenants at once. Chosen over per-request tenant
selection because the admin's own filters (by tenant) then work unchanged, and
the CRUD layer scopes the same list of ids.

* `optinbase_tenant_ids()` reads `app.tenant_ids` (a uuid[] literal); unset or
  '' gives NULL, and `tenant_id = ANY(NULL)` is never true: still fail closed.
* Every `tenant_isolation` policy present now (whichever migrations made them)
  becomes `tenant_id = optinbase_tenant() OR tenant_id = ANY(optinbase_tenant_ids())`.
  Tables added later keep working with `app.tenant_id` alone; to show them to
  agency staff across tenants, give their policy the same expression.
* staff_session: unique token; the application role may read and write it.
  `optinbase_grant_app_role` is wrapped (renamed and called), not rewritten.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "admin walls: tenant id lists in RLS policies, staff sessions"

POLICY = "tenant_id = optinbase_tenant() OR tenant_id = ANY(optinbase_tenant_ids())"

PG_STATEMENTS = [
    """CREATE FUNCTION optinbase_tenant_ids() RETURNS uuid[] LANGUAGE sql STABLE AS
       $$ SELECT nullif(current_setting('app.tenant_ids', true), '')::uuid[] $$""",
    f"""DO $$
       DECLARE t text;
       BEGIN
         FOR t IN SELECT tablename FROM pg_policies
                  WHERE schemaname = 'public' AND policyname = 'tenant_isolation' LOOP
           EXECUTE format('ALTER POLICY tenant_isolation ON %I USING ({POLICY})'
                          ' WITH CHECK ({POLICY})', t);
         END LOOP;
       END $$""",
    "ALTER FUNCTION optinbase_grant_app_role(text) RENAME TO optinbase_grant_app_role_before_admin",
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM optinbase_grant_app_role_before_admin(app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON staff_session TO %I', app_role);
         EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %I', app_role);
       END $$""",
]


async def _apply() -> None:
    engine = engine_finder()
    statements = ["CREATE UNIQUE INDEX staff_session_token ON staff_session (token)"]
    if engine.engine_type == "postgres":
        statements += PG_STATEMENTS
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
