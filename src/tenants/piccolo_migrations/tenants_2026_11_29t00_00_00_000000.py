"""Control plane: agencies, tenants, staff, memberships, API keys, admin sessions.

Squashed from the first migrations (no deployment existed). The classes below
are the tables as this migration creates them (frozen: the models in
tenants/tables.py may move on).

* PostgreSQL: the functions every row-level security policy calls,
  `optinbase_tenant()` (`app.tenant_id`) and `optinbase_tenant_ids()`
  (`app.tenant_ids`, an admin request's tenants), both only reading settings and
  so PARALLEL SAFE (otherwise a million-row export or count uses one core).
* api_key is a tenant table under RLS, with two more policies: authentication
  reads one key before any tenant is known (only the row whose public key id the
  caller presents, `app.key_id`, never a listing), and an agency manages its own
  keys (`app.agency_id`).
* The other tables are read before a tenant is known (key lookup, login, public
  URLs) and are guarded by grants (src/optinbase/sql/grants.sql).
"""

from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import (
    JSONB,
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Secret,
    Serial,
    Timestamp,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamp import TimestampOffset
from piccolo.table import Table

from optinbase.schema import Migration, add_tables, is_postgres, row_level_security, run_ddl

ID = "2026-11-29T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "control plane: agencies, tenants, staff, keys, sessions; RLS functions"


class Agency(Table, tablename="agency"):
    id = UUID(primary_key=True)
    slug = Varchar(length=63, unique=True)
    name = Varchar(length=200)
    created_at = Timestamptz()


class StaffUser(Table, tablename="staff_user"):
    username = Varchar(length=100, unique=True)
    password = Secret()
    first_name = Varchar(null=True)
    last_name = Varchar(null=True)
    email = Varchar(unique=True)
    active = Boolean()
    admin = Boolean()
    superuser = Boolean()
    last_login = Timestamp(default=None, null=True)
    id = Serial(primary_key=True, db_column_name="id")


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)
    slug = Varchar(length=63, unique=True)
    name = Varchar(length=200)
    legal_name = Varchar(length=200)
    dpo_email = Varchar(length=254)
    country = Varchar(length=2)
    agency = ForeignKey(Agency, on_delete=OnDelete.restrict, db_column_name="agency_id")
    settings = JSONB()
    secret = Varchar(length=64, secret=True)
    created_at = Timestamptz()


class Membership(Table, tablename="membership"):
    id = UUID(primary_key=True)
    user = ForeignKey(StaffUser, db_column_name="user_id")
    tenant = ForeignKey(Tenant, db_column_name="tenant_id")
    agency = ForeignKey(Agency, db_column_name="agency_id")
    role = Varchar(length=16)
    created_at = Timestamptz()


class ApiKey(Table, tablename="api_key"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, db_column_name="tenant_id")
    agency = ForeignKey(Agency, db_column_name="agency_id")
    name = Varchar(length=200)
    key_id = Varchar(length=32, unique=True)
    secret_hash = Varchar(length=200, secret=True)
    scopes = JSONB(default="[]")
    created_at = Timestamptz()
    last_used_at = Timestamptz(default=None, null=True)
    expires_at = Timestamptz(default=None, null=True)
    revoked_at = Timestamptz(default=None, null=True)


class StaffSession(Table, tablename="staff_session"):
    """piccolo_api's session table (SessionsBase)."""

    token = Varchar(length=100, secret=True)
    user_id = Integer()
    expiry_date = Timestamp(default=TimestampOffset(days=0, hours=1, minutes=0, seconds=0))
    max_expiry_date = Timestamp(default=TimestampOffset(days=7, hours=0, minutes=0, seconds=0))
    id = Serial(primary_key=True, db_column_name="id")


INDEXES = [
    "CREATE INDEX api_key_tenant ON api_key (tenant_id)",
    "CREATE UNIQUE INDEX staff_session_token ON staff_session (token)",
]

PG_STATEMENTS = [
    # '' after first use in a session, hence nullif; NULL makes every policy false.
    """CREATE FUNCTION optinbase_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS
       $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$""",
    """CREATE FUNCTION optinbase_tenant_ids() RETURNS uuid[] LANGUAGE sql STABLE PARALLEL SAFE AS
       $$ SELECT nullif(current_setting('app.tenant_ids', true), '')::uuid[] $$""",
    *row_level_security("api_key"),
    "CREATE POLICY key_lookup ON api_key "
    "USING (key_id = nullif(current_setting('app.key_id', true), ''))",
    "CREATE POLICY agency_keys ON api_key USING (tenant_id IS NULL AND agency_id = "
    "nullif(current_setting('app.agency_id', true), '')::uuid)",
]


async def _walls() -> None:
    await run_ddl(INDEXES + (PG_STATEMENTS if is_postgres() else []))


async def forwards():
    manager = Migration(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    add_tables(manager, Membership, Tenant, ApiKey, StaffUser, Agency, StaffSession)
    manager.after_tables.append(_walls)
    return manager
