"""One open request per person and kind, enforced by the schema.

The intake checks for an open request first, but two submissions at the same
moment would both pass that check: a partial unique index over open requests
makes the second insert a no-op (`ON CONFLICT … DO NOTHING`), which the intake
answers as a duplicate. Both engines support partial indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one open data-subject request per person and kind"


async def _apply() -> None:
    await engine_finder().run_ddl(
        "CREATE UNIQUE INDEX data_subject_request_one_open"
        " ON data_subject_request (tenant_id, subject_hash, kind)"
        " WHERE status IN ('unverified', 'verified')"
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
