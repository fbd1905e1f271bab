"""Walls for webhook endpoints.

* Unique (tenant_id, id), so lists and lookups stay within a tenant.
* PostgreSQL: RLS enabled and forced with the usual tenant policy, plus a
  read-only policy for the outbox worker, which needs an endpoint's secret to
  sign a delivery (`app.worker = 'outbox'`, set only by the worker module).
* `optinbase_grant_app_role` is wrapped, not rewritten (see the outbox walls).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T02:02:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook endpoint walls: tenant key, RLS, worker read policy, grants"

COMMON = [
    "CREATE UNIQUE INDEX webhook_endpoint_tenant_id_id ON webhook_endpoint (tenant_id, id)",
]

POSTGRES = [
    "ALTER TABLE webhook_endpoint ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE webhook_endpoint FORCE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_isolation ON webhook_endpoint"
    " USING (tenant_id = optinbase_tenant()) WITH CHECK (tenant_id = optinbase_tenant())",
    "CREATE POLICY outbox_worker ON webhook_endpoint FOR SELECT"
    " USING (current_setting('app.worker', true) = 'outbox')",
    "ALTER FUNCTION optinbase_grant_app_role(text)"
    " RENAME TO optinbase_grant_app_role_before_webhooks",
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM optinbase_grant_app_role_before_webhooks(app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE ON webhook_endpoint TO %I', app_role);
       END $$""",
]


async def _apply() -> None:
    engine = engine_finder()
    statements = COMMON + (POSTGRES if engine.engine_type == "postgres" else [])
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
