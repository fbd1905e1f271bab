"""Form definitions (consent/forms): one immutable row per version of a
tenant's form, like notices — a submission's proof names the version it was
made on, so a version is never rewritten (the role may only insert).

Primary key (tenant_id, id), unique (tenant_id, form_id, version), key to
tenant without ON UPDATE CASCADE (Citus-ready); RLS forced, tenant policy.
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import JSONB, UUID, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.table import Table

from optinbase.schema import (
    Migration,
    add_tables,
    is_postgres,
    primary_keys,
    row_level_security,
    run_ddl,
    tenant_keys,
)

ID = "2026-12-01T11:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "form definitions, versioned"


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)


class FormVersion(Table, tablename="form_version"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    form_id = UUID()
    version = Integer()
    name = Varchar(length=200)
    definition = JSONB()
    created_at = Timestamptz()


INDEXES = [
    "CREATE UNIQUE INDEX form_version_tenant_form_version"
    " ON form_version (tenant_id, form_id, version)",
]
PG_STATEMENTS = [
    *primary_keys([], ["form_version"]),
    *tenant_keys(["form_version"]),
    *row_level_security("form_version"),
]


async def _walls() -> None:
    await run_ddl(INDEXES + (PG_STATEMENTS if is_postgres() else []))


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    add_tables(manager, FormVersion)
    manager.after_tables.append(_walls)
    return manager
