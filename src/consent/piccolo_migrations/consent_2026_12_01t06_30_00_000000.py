"""Keys that Citus can distribute by tenant (docs/scale-out.md).

Citus shards a table by one column, here `tenant_id`, and refuses a table whose
primary key or unique keys lack it, single-column foreign keys between sharded
tables, `ON UPDATE CASCADE` towards a reference table (tenant) and
`ON DELETE SET NULL (column)`. PostgreSQL:

* Primary key `(tenant_id, id)` on every tenant table (Piccolo's models keep
  `id` as their primary-key column: the ORM and the admin never read the
  database's constraint, and ids are random UUIDs). Where a unique
  `(tenant_id, id)` index existed it becomes the key (`USING INDEX`: no rebuild,
  and the composite foreign keys pointing at it stay).
* notice's single-column key to purpose goes; the composite
  `notice_purpose_id_same_tenant` already says the same within a tenant.
* Keys to tenant(id) without `ON UPDATE CASCADE` (tenant ids never change).
* The ledger's and requests' keys to contact no longer set the link to NULL
  when a contact is deleted: they refuse the delete while a link remains.
  Erasure blanks `consent_event.contact_id` and `data_subject_request.contact_id`
  itself before it deletes the contact (consent/erasure.py), so this only turns
  a forgotten blanking into an error instead of a silent fix.

SQLite keeps `id` as its primary key (it cannot change a table's key without
rebuilding it; a SQLite file is never sharded, and `id` alone unique is the
stronger rule); it gets the same refusal: a contact still linked from the ledger
or a request cannot be deleted (its consent states still go with it).
"""

from optinbase.schema import Migration, is_postgres, primary_keys, run_ddl, tenant_keys

ID = "2026-12-01T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "keys that distribute by tenant_id (Citus)"

# Tables whose unique (tenant_id, id) index becomes the primary key.
KEY_FROM_INDEX = ["contact", "purpose", "notice", "consent_event", "segment", "import_job",
                  "data_subject_request", "request_event"]
NEW_KEY = ["ledger_head", "consent_state", "audit_event", "idempotency_record", "suppression"]
# consent_event and consent_state have no key to tenant (the initial migration).
TENANT_KEY = [t for t in KEY_FROM_INDEX + NEW_KEY if t not in ("consent_event", "consent_state")]
CONTACT_LINKS = ["consent_event", "data_subject_request"]


PG_STATEMENTS = [
    "ALTER TABLE notice DROP CONSTRAINT notice_purpose_id_fkey",
    *primary_keys(KEY_FROM_INDEX, NEW_KEY),
    *tenant_keys(TENANT_KEY),
    *(f"ALTER TABLE {t} DROP CONSTRAINT {t}_contact_id_same_tenant,"
      f" ADD CONSTRAINT {t}_contact_id_same_tenant FOREIGN KEY (tenant_id, contact_id)"
      f" REFERENCES contact (tenant_id, id) ON DELETE RESTRICT"
      for t in CONTACT_LINKS),
]

SQLITE_STATEMENTS = [
    "DROP TRIGGER contact_keeps_ledger",
    "DROP TRIGGER contact_clears_requests",
    "CREATE TRIGGER contact_keeps_links BEFORE DELETE ON contact"
    " WHEN EXISTS (SELECT 1 FROM consent_event WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id)"
    " OR EXISTS (SELECT 1 FROM data_subject_request WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id)"
    " BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: the contact is still linked"
    " from the ledger or a request (erasure blanks the links first)'); END",
    "CREATE TRIGGER contact_takes_states BEFORE DELETE ON contact"
    " BEGIN DELETE FROM consent_state WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
]


async def _apply() -> None:
    await run_ddl(PG_STATEMENTS if is_postgres() else SQLITE_STATEMENTS)


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
