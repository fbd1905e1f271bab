"""Walls for the outbox.

* Unique (tenant_id, id); a due-message index for the workers.
* PostgreSQL: RLS enabled and forced with the usual tenant policy, plus one
  policy for delivery workers, which claim due messages of every tenant: rows
  are visible when the transaction declares itself the outbox worker
  (`app.worker = 'outbox'`). Only the worker module sets it.
* `optinbase_grant_app_role` is wrapped, not rewritten (see the consent walls).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T01:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox walls: tenant index, worker policy, grants"

COMMON = [
    "CREATE UNIQUE INDEX outbox_message_tenant_id_id ON outbox_message (tenant_id, id)",
    "CREATE INDEX outbox_message_due ON outbox_message (status, next_attempt_at)",
    "CREATE INDEX outbox_message_tenant_contact ON outbox_message (tenant_id, contact_id)",
]

POSTGRES = [
    "ALTER TABLE outbox_message ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE outbox_message FORCE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_isolation ON outbox_message"
    " USING (tenant_id = optinbase_tenant()) WITH CHECK (tenant_id = optinbase_tenant())",
    "CREATE POLICY outbox_worker ON outbox_message"
    " USING (current_setting('app.worker', true) = 'outbox')",
    "ALTER FUNCTION optinbase_grant_app_role(text)"
    " RENAME TO optinbase_grant_app_role_before_messaging",
    """CREATE FUNCTION optinbase_grant_app_role(app_role text) RETURNS void
       LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM optinbase_grant_app_role_before_messaging(app_role);
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON outbox_message TO %I', app_role);
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
