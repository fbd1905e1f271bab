"""Drop the single-column tenant foreign keys of consent_event and consent_state.

Both tables also reference `purpose (tenant_id, id)` with a NOT NULL
`purpose_id`, and a purpose references its tenant: an event or a state whose
tenant does not exist cannot be written, nor can a tenant with events or states
be deleted, without these two. They only cost a trigger call and a lookup of
the tenant row per inserted event and state: about 9 % of the database's share
of a million-row import (bench/README.md). PostgreSQL only: SQLite cannot drop
a constraint without rebuilding the table, and checks nothing per row that
matters at its sizes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "drop tenant foreign keys implied by the composite purpose keys"


async def _apply() -> None:
    engine = engine_finder()
    if engine.engine_type != "postgres":
        return
    for table in ("consent_event", "consent_state"):
        await engine.run_ddl(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_tenant_id_fkey")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
