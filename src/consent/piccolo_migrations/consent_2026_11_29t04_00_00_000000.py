"""Let PostgreSQL run tenant queries in parallel.

The row-level security policies call `optinbase_tenant()` and
`optinbase_tenant_ids()`. Functions are PARALLEL UNSAFE unless declared
otherwise, and the planner checks that before it inlines them, so every query
on a tenant table was kept to one process: a million-row segment export or
count used one core. Both only read settings (`current_setting`, itself
parallel safe; a parallel worker gets the leader's settings, `app.tenant_id`
included), so they are safe. SQLite: nothing to do.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenant policy functions are parallel safe"

PG_STATEMENTS = [
    "ALTER FUNCTION optinbase_tenant() PARALLEL SAFE",
    "ALTER FUNCTION optinbase_tenant_ids() PARALLEL SAFE",
]


async def _apply() -> None:
    engine = engine_finder()
    if engine.engine_type == "postgres":
        for statement in PG_STATEMENTS:
            await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
