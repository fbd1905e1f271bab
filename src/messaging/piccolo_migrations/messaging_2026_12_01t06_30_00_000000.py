"""Keys that Citus can distribute by tenant (docs/scale-out.md; the reasons are
in the consent migration of the same name): primary keys (tenant_id, id) made
from the unique (tenant_id, id) indexes, keys to tenant(id) without
ON UPDATE CASCADE. PostgreSQL only: SQLite keeps `id` as its primary key."""

from optinbase.schema import Migration, is_postgres, primary_keys, run_ddl, tenant_keys

ID = "2026-12-01T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "keys that distribute by tenant_id (Citus)"

TABLES = ["outbox_message", "webhook_endpoint"]


async def _apply() -> None:
    if is_postgres():
        await run_ddl(primary_keys(TABLES, []) + tenant_keys(TABLES))


async def forwards():
    manager = Migration(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
