"""Delivery: the outbox (e-mails and webhook calls waiting to leave) and the
integrators' webhook endpoints.

Squashed from the first migrations (no deployment existed). The classes below
are the tables as this migration creates them (frozen: the models in
messaging/tables.py may move on).

* Unique (tenant_id, id); a due-message index for the workers.
* PostgreSQL: RLS enabled and forced with the tenant's own policy
  (`app.tenant_id`; admin requests do not list these tables), plus one policy
  for delivery workers, which claim due messages of every tenant: outbox rows
  are visible, and endpoints readable (a delivery is signed with the endpoint's
  secret), when the transaction declares itself the outbox worker
  (`app.worker = 'outbox'`, set only by the worker module).
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import JSONB, UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from optinbase.schema import Migration, add_tables, is_postgres, row_level_security, run_ddl

ID = "2026-11-29T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox and webhook endpoints, worker policies"


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)


class OutboxMessage(Table, tablename="outbox_message"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    kind = Varchar(length=16)
    contact_id = UUID(default=None, null=True)
    recipient = Varchar(length=2000)
    subject = Varchar(length=500)
    payload = JSONB()
    status = Varchar(length=16, default="pending")
    attempts = Integer()
    next_attempt_at = Timestamptz()
    locked_until = Timestamptz(default=None, null=True)
    last_error = Text(default=None, null=True)
    created_at = Timestamptz()
    sent_at = Timestamptz(default=None, null=True)


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, null=False, db_column_name="tenant_id")
    url = Varchar(length=2000)
    events = JSONB(default="[]")
    secret = Varchar(length=100, secret=True)
    created_at = Timestamptz()
    disabled_at = Timestamptz(default=None, null=True)


INDEXES = [
    "CREATE UNIQUE INDEX outbox_message_tenant_id_id ON outbox_message (tenant_id, id)",
    "CREATE INDEX outbox_message_due ON outbox_message (status, next_attempt_at)",
    "CREATE INDEX outbox_message_tenant_contact ON outbox_message (tenant_id, contact_id)",
    "CREATE UNIQUE INDEX webhook_endpoint_tenant_id_id ON webhook_endpoint (tenant_id, id)",
]

OWN_TENANT = "tenant_id = optinbase_tenant()"
PG_STATEMENTS = [
    *row_level_security("outbox_message", OWN_TENANT),
    "CREATE POLICY outbox_worker ON outbox_message"
    " USING (current_setting('app.worker', true) = 'outbox')",
    *row_level_security("webhook_endpoint", OWN_TENANT),
    "CREATE POLICY outbox_worker ON webhook_endpoint FOR SELECT"
    " USING (current_setting('app.worker', true) = 'outbox')",
]


async def _walls() -> None:
    await run_ddl(INDEXES + (PG_STATEMENTS if is_postgres() else []))


async def forwards():
    manager = Migration(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    add_tables(manager, OutboxMessage, WebhookEndpoint)
    manager.after_tables.append(_walls)
    return manager
