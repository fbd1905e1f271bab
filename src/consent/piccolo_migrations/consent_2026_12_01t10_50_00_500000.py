"""The ledger's chain format (consent.ledger.chain): 1 for every event written
so far, 2 for new ones, whose `source` is personal data (digested with the
salt, blanked by erasure) instead of being hashed in clear with the event."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T10:50:00:500000"
VERSION = "1.38.0"
DESCRIPTION = "consent_event.chain_format"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_column(
        table_class_name="ConsentEvent",
        tablename="consent_event",
        column_name="chain_format",
        db_column_name="chain_format",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 1,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
