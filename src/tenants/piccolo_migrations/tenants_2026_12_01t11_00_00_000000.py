"""Rate-limit counters shared by every process (optinbase.limits): one row per
limit, window and hashed subject. Tenant-free on purpose — a client address or
an account is limited across tenants — and holding no personal data (subjects
are keyed hashes). A reference table on Citus; REDIS_URL takes the load off
the database where that matters."""

from optinbase.schema import Migration, run_ddl

ID = "2026-12-01T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "shared rate-limit counters"

STATEMENTS = [
    "CREATE TABLE rate_limit (key VARCHAR(128) PRIMARY KEY, hits INTEGER NOT NULL,"
    " expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX rate_limit_expiry ON rate_limit (expires_at)",
]


async def _apply() -> None:
    await run_ddl(STATEMENTS)


async def forwards():
    manager = Migration(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
