"""The change feed (`GET /v1/changes`, consent/changes.py).

* `change_log`: one row per consent state change, suppression and erasure of
  a tenant, numbered by `seq` in commit order. Primary key (tenant_id, id) and
  unique (tenant_id, seq) (Citus-ready, as the keys migration does); no key to
  contact: an erasure deletes the person's earlier rows and keeps one row
  saying the id was erased.
* `ledger_head.change_seq`: the last number handed out. Taking the next ones is
  an UPDATE of the tenant's ledger_head row, whose lock is held until commit —
  the lock the ledger already takes for its appends, so one row serialises
  both and a change committed later always has a higher number (a sequence
  would not: numbers drawn in one order can commit in another).
* PostgreSQL: RLS enabled and forced with the tenant policy.
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import UUID, BigInt, ForeignKey, Timestamptz, Varchar
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

ID = "2026-12-01T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "change feed: change_log and ledger_head.change_seq"


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)


class ChangeLog(Table, tablename="change_log"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    seq = BigInt()
    kind = Varchar(length=16)
    contact_id = UUID(null=True, default=None)
    channel = Varchar(length=16, null=True, default=None)
    purpose_id = UUID(null=True, default=None)
    status = Varchar(length=16, null=True, default=None)
    reason = Varchar(length=16, null=True, default=None)
    event_id = UUID(null=True, default=None)
    at = Timestamptz()


COMMON = [
    "ALTER TABLE ledger_head ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0",
    "CREATE UNIQUE INDEX change_log_tenant_seq ON change_log (tenant_id, seq)",
    "CREATE INDEX change_log_tenant_contact ON change_log (tenant_id, contact_id)",
]
PG_STATEMENTS = [
    *primary_keys([], ["change_log"]),
    *tenant_keys(["change_log"]),
    *row_level_security("change_log"),
]


async def _walls() -> None:
    await run_ddl(COMMON + (PG_STATEMENTS if is_postgres() else []))


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    add_tables(manager, ChangeLog)
    manager.after_tables.append(_walls)
    return manager
