"""Erasure may blank a ledger event's `source` — on format-2 events only.

Format-2 events (consent.ledger.chain) digest their source with the other
personal fields, so blanking it leaves the chain verifiable; a format-1 event
hashed its source in clear, and blanking it would break the chain, so the
guard still refuses that. `chain_format` itself never changes.
PostgreSQL: the guard function is replaced; SQLite: its trigger is rebuilt.
"""

from optinbase.schema import Migration, is_postgres, run_ddl

ID = "2026-12-01T10:50:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger guard: erasure blanks the source of format-2 events"

PERSONAL = ["contact_id", "ip", "user_agent", "pii_salt"]
FIXED = [
    "id", "tenant_id", "seq", "channel", "purpose_id", "action", "notice_id",
    "method", "collected_at", "recorded_at", "actor",
    "personal_digest", "prev_hash", "hash", "chain_format",
]
_SOURCE_PG = ("(NEW.source IS DISTINCT FROM OLD.source"
              " AND (NEW.source IS NOT NULL OR OLD.chain_format < 2))")
_SOURCE_SQLITE = ("(NEW.source IS NOT OLD.source"
                  " AND (NEW.source IS NOT NULL OR OLD.chain_format < 2))")

PG = [
    """CREATE OR REPLACE FUNCTION optinbase_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'consent_event is append-only' USING ERRCODE = 'check_violation';
         END IF;
         IF ROW(%s) IS DISTINCT FROM ROW(%s) OR %s OR %s THEN
           RAISE EXCEPTION 'consent_event is append-only: only erasure may blank personal fields'
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$""" % (
        ", ".join(f"NEW.{c}" for c in FIXED),
        ", ".join(f"OLD.{c}" for c in FIXED),
        " OR ".join(f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})"
                    for c in PERSONAL),
        _SOURCE_PG,
    ),
]

SQLITE = [
    "DROP TRIGGER consent_event_blank_only",
    "CREATE TRIGGER consent_event_blank_only BEFORE UPDATE ON consent_event WHEN "
    + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FIXED) + " OR "
    + " OR ".join(f"(NEW.{c} IS NOT NULL AND NEW.{c} IS NOT OLD.{c})" for c in PERSONAL)
    + f" OR {_SOURCE_SQLITE}"
    " BEGIN SELECT RAISE(ABORT, 'consent_event is append-only: only erasure may"
    " blank personal fields'); END",
]


async def _apply() -> None:
    await run_ddl(PG if is_postgres() else SQLITE)


async def forwards():
    manager = Migration(migration_id=ID, app_name="consent", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
