"""Keys, sessions and secrets the application role could read or misuse
(issue 13 §4):

* an API key belongs to exactly one owner, a tenant or an agency (a key with
  neither was read as an agency key for every agency-less tenant): a CHECK on
  PostgreSQL, triggers on SQLite. Existing ownerless keys are revoked first
  (PostgreSQL adds the CHECK after that, so it validates).
* staff session tokens are stored as their SHA-256 (tenants.tables.StaffSession):
  open sessions, stored in clear before, are ended — staff log in again.
* a tenant's secret (the key of its suppression hashes) is read through
  `optinbase_tenant_secret(id)`, which answers only for the tenant of the
  transaction; grants.sql no longer lets the application role select the
  column (PostgreSQL).
"""

from optinbase.schema import Migration, is_postgres, run_ddl

ID = "2026-12-01T11:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one owner per API key, hashed session tokens, tenant secrets behind a function"

COMMON = [
    "UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP"
    " WHERE tenant_id IS NULL AND agency_id IS NULL AND revoked_at IS NULL",
    "DELETE FROM staff_session",
]

POSTGRES = [
    # Revoked but still ownerless rows would fail the CHECK: give them nothing to
    # act for and keep them for the record (NOT VALID skips them, new rows are checked).
    "ALTER TABLE api_key ADD CONSTRAINT api_key_one_owner"
    " CHECK ((tenant_id IS NULL) <> (agency_id IS NULL)) NOT VALID",
    """CREATE FUNCTION optinbase_tenant_secret(wanted uuid) RETURNS text
       LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
       $$ SELECT secret FROM tenant WHERE id = wanted
            AND (id = optinbase_tenant() OR id = ANY(optinbase_tenant_ids())) $$""",
    "REVOKE ALL ON FUNCTION optinbase_tenant_secret(uuid) FROM PUBLIC",
]

SQLITE = [
    """CREATE TRIGGER api_key_one_owner_insert BEFORE INSERT ON api_key
       WHEN (NEW.tenant_id IS NULL) = (NEW.agency_id IS NULL)
       BEGIN SELECT RAISE(ABORT, 'api_key_one_owner: a key belongs to one tenant or one agency'); END""",
    """CREATE TRIGGER api_key_one_owner_update BEFORE UPDATE OF tenant_id, agency_id ON api_key
       WHEN (NEW.tenant_id IS NULL) = (NEW.agency_id IS NULL)
       BEGIN SELECT RAISE(ABORT, 'api_key_one_owner: a key belongs to one tenant or one agency'); END""",
]


async def _apply() -> None:
    await run_ddl(COMMON + (POSTGRES if is_postgres() else SQLITE))


async def forwards():
    manager = Migration(migration_id=ID, app_name="tenants", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
