"""The schema's own machinery: how migrations are written and applied, and the
application role's grants.

* `migrate(app_role)` is what `optinbase migrate` and the test databases run:
  every Piccolo migration not yet applied, then `sql/grants.sql` for the
  application role (PostgreSQL), re-applied on every run so that the file is
  the whole truth about what that role may do.
* The initial migrations describe their tables as frozen Piccolo classes
  (`add_tables`) and build their walls — indexes, keys, triggers, policies —
  once the tables exist (`Migration.after_tables`): Piccolo runs a migration's
  `add_raw` steps *before* it creates the migration's tables.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine import engine_finder
from piccolo.table import Table

from optinbase import db

GRANTS = Path(__file__).with_name("sql") / "grants.sql"


@dataclass
class Migration(MigrationManager):
    """A MigrationManager whose `after_tables` steps run right after its tables
    are created, in the migration's transaction."""

    after_tables: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def _run_add_tables(self, backwards: bool = False) -> None:
        await super()._run_add_tables(backwards=backwards)
        if not backwards:
            for step in self.after_tables:
                await step()


def add_tables(manager: MigrationManager, *tables: type[Table]) -> None:
    """`add_table` and one `add_column` per column, as `piccolo migrations new
    --auto` writes them, from frozen table classes (their column order is the
    order of the columns in the database)."""
    for table in tables:
        name, tablename = table.__name__, table._meta.tablename
        manager.add_table(class_name=name, tablename=tablename, schema=None, columns=None)
        for column in table._meta.columns:
            manager.add_column(
                table_class_name=name,
                tablename=tablename,
                column_name=column._meta.name,
                db_column_name=column._meta.db_column_name,
                column_class_name=type(column).__name__,
                column_class=type(column),
                params=dict(column._meta.params),
                schema=None,
            )


async def run_ddl(statements: Iterable[str]) -> None:
    engine = engine_finder()
    for statement in statements:
        await engine.run_ddl(statement)


# Who may see a tenant row: the tenant of the transaction (`app.tenant_id`), or
# one of the tenants of an admin request (`app.tenant_ids`, agency staff). Unset
# or '' reads as NULL, and a comparison with NULL is never true: fail closed.
TENANT_POLICY = "tenant_id = optinbase_tenant() OR tenant_id = ANY(optinbase_tenant_ids())"


def row_level_security(table: str, policy: str = TENANT_POLICY) -> list[str]:
    """RLS enabled and forced (the owner too) on `table`, rows visible and
    writable under `policy` only (PostgreSQL)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({policy}) WITH CHECK ({policy})",
    ]


def primary_keys(key_from_index: list[str], new_key: list[str]) -> list[str]:
    """Primary keys (tenant_id, id) for Citus (PostgreSQL): from the tables' unique
    `{table}_tenant_id_id` index where they have one (no rebuild; the foreign
    keys pointing at it stay), built otherwise."""
    return [
        *(f"ALTER TABLE {t} DROP CONSTRAINT {t}_pkey,"
          f" ADD CONSTRAINT {t}_pkey PRIMARY KEY USING INDEX {t}_tenant_id_id"
          for t in key_from_index),
        *(f"ALTER TABLE {t} DROP CONSTRAINT {t}_pkey,"
          f" ADD CONSTRAINT {t}_pkey PRIMARY KEY (tenant_id, id)" for t in new_key),
    ]


def tenant_keys(tables: list[str]) -> list[str]:
    """The tables' keys to tenant(id) without Piccolo's ON UPDATE CASCADE, which
    Citus refuses towards a reference table (tenant ids never change)."""
    return [
        f"ALTER TABLE {t} DROP CONSTRAINT {t}_tenant_id_fkey,"
        f" ADD CONSTRAINT {t}_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenant (id)"
        f" ON DELETE RESTRICT"
        for t in tables
    ]


# Column types for raw DDL written once for both engines: the `{uuid}`, `{ts}`
# and `{key}` of a new tenant table's CREATE TABLE. PostgreSQL keys it by
# (tenant_id, id) for Citus; SQLite keeps `id` as its key (as the `constraints`
# migration left every table there) with (tenant_id, id) unique for the
# composite references; Piccolo's declared types let its converters read back.
TABLE_TYPES = {
    "postgres": {"uuid": "UUID", "ts": "TIMESTAMPTZ", "key": "PRIMARY KEY (tenant_id, id),"},
    "sqlite": {"uuid": "UUID", "ts": "TIMESTAMPTZ",
               "key": "PRIMARY KEY (id), UNIQUE (tenant_id, id),"},
}


def raw_migration(migration_id: str, app_name: str, description: str,
                  postgres: list[str], sqlite: list[str]) -> Callable[[], Awaitable[Migration]]:
    """The `forwards` of a migration made of raw DDL, one list per engine."""

    async def forwards() -> Migration:
        manager = Migration(migration_id=migration_id, app_name=app_name,
                            description=description)

        async def apply() -> None:
            await run_ddl(postgres if is_postgres() else sqlite)

        manager.add_raw(apply)
        return manager

    return forwards


def is_postgres() -> bool:
    return engine_finder().engine_type == "postgres"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def grant_app_role(app_role: str) -> None:
    """Applies sql/grants.sql for `app_role` in one transaction (the role never
    sees a moment without its rights). The file is also valid psql:
    `psql -v app_role=optinbase_app -f grants.sql`."""
    engine = engine_finder()
    async with engine.transaction():
        connection = engine.current_transaction.get().connection
        database = await connection.fetchval("SELECT current_database()")
        if await connection.fetchval(db.CITUS_INSTALLED):
            # Citus grants on a distributed table's shards in parallel, and then
            # refuses a grant on a reference table in the same transaction
            # ("cannot execute DDL on table "agency" because there was a
            # parallel DDL access to distributed table …"), as the test fixture
            # once did after distributing — what `optinbase migrate` does on an
            # upgrade of a distributed database. One shard at a time.
            await connection.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        script = (
            GRANTS.read_text()
            .replace(':"app_role"', quote_ident(app_role))
            .replace(':"DBNAME"', quote_ident(database))
        )
        await connection.execute(script)  # simple protocol: several statements


APPS = ("tenants", "consent", "messaging")


def known_migrations() -> set[tuple[str, str]]:
    """(app, migration id) of every migration this code carries."""
    known = set()
    for app in APPS:
        package = importlib.import_module(f"{app}.piccolo_migrations")
        for info in pkgutil.iter_modules(package.__path__):
            known.add((app, importlib.import_module(f"{package.__name__}.{info.name}").ID))
    return known


async def pending() -> list[str]:
    """The migrations not applied to the current engine's database, as
    `app:id`; all of them when nothing was ever migrated."""
    try:
        rows = await db.fetch("SELECT app_name, name FROM migration")
    except Exception as exc:
        if "migration" not in str(exc) or "permission" in str(exc):
            raise  # not the table's absence: the caller says what is wrong
        rows = []  # no migration table: nothing was ever applied
    applied = {(r["app_name"], r["name"]) for r in rows}
    return sorted(f"{app}:{ident}" for app, ident in known_migrations() - applied)


class MigrationFailed(Exception):
    """Piccolo's reason, in one line."""


async def migrate(app_role: str | None = None) -> None:
    """Applies the pending migrations as the current (owner) engine, then the
    application role's grants when that role is another one (PostgreSQL)."""
    result = await run_forwards("all")
    if not result.success:
        raise MigrationFailed(f"migration failed: {result.message}")
    if app_role and is_postgres():
        await grant_app_role(app_role)
