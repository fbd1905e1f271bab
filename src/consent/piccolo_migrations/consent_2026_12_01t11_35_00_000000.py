"""An index on the ledger by tenant and the day the person acted.

The admin's dashboard counts a tenant's opt-ins and withdrawals of the last 30
days and the agency overview those of the current month, both by `collected_at`
(admin.stats). Without this index each of them reads the tenant's whole ledger:
measured on PostgreSQL under RLS, 300,000 events, the month's count took ~550 ms
per tenant (a parallel sequential scan), once per tenant of the overview. With
it, only the period's events are read. Only adds an index (both engines).
"""

from optinbase.schema import Migration, run_ddl

ID = "2026-12-01T11:35:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger index by tenant and collected_at (admin dashboard)"

STATEMENTS = [
    "CREATE INDEX IF NOT EXISTS consent_event_tenant_collected"
    " ON consent_event (tenant_id, collected_at)",
]


async def _apply() -> None:
    await run_ddl(STATEMENTS)


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
