"""E-mail providers' events in (messaging/inbound).

* `inbound_endpoint`: a tenant's endpoint for one provider and what proves a
  call is the provider's (a secret we generated, or the provider's key).
* `inbound_event`: each provider event handled, unique per endpoint and the
  provider's event id (a retried or replayed delivery changes nothing), with
  the contact it concerned (soft bounces are counted over a window; erasure
  deletes the person's rows).
* Primary keys (tenant_id, id), keys to tenant without ON UPDATE CASCADE
  (Citus-ready, as the keys migration does); RLS forced, tenant policy.
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import UUID, ForeignKey, Timestamptz, Varchar
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

ID = "2026-12-01T12:25:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "inbound endpoints of e-mail providers and the events they sent"


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)


class InboundEndpoint(Table, tablename="inbound_endpoint"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    provider = Varchar(length=16)
    username = Varchar(length=100, null=True, default=None)
    secret = Varchar(length=1000, secret=True)
    topic_arn = Varchar(length=300, null=True, default=None)
    created_at = Timestamptz()
    disabled_at = Timestamptz(null=True, default=None)


class InboundEvent(Table, tablename="inbound_event"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    endpoint_id = UUID()
    event_key = Varchar(length=300)
    kind = Varchar(length=16)
    contact_id = UUID(null=True, default=None)
    outcome = Varchar(length=32)
    received_at = Timestamptz()


TABLES = ["inbound_endpoint", "inbound_event"]
INDEXES = [
    "CREATE UNIQUE INDEX inbound_endpoint_tenant_id_id ON inbound_endpoint (tenant_id, id)",
    "CREATE UNIQUE INDEX inbound_event_once ON inbound_event (tenant_id, endpoint_id, event_key)",
    "CREATE INDEX inbound_event_contact ON inbound_event (tenant_id, contact_id, kind, received_at)",
]
PG_STATEMENTS = [
    *primary_keys([], TABLES),
    *tenant_keys(TABLES),
    *(s for t in TABLES for s in row_level_security(t, "tenant_id = optinbase_tenant()")),
]


async def _walls() -> None:
    await run_ddl(INDEXES + (PG_STATEMENTS if is_postgres() else []))


async def forwards():
    manager = Migration(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    add_tables(manager, InboundEndpoint, InboundEvent)
    manager.after_tables.append(_walls)
    return manager
