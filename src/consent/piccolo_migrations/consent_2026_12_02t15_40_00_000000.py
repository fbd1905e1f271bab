"""`optinbase_refresh_import_statistics()`: an import refreshes the planner's
statistics of the four tables it grows while they are small.

Tables analysed while empty — a new installation, before autovacuum's first
pass a minute later, or a server where it is off — make a tenant look tiny to
the planner: the import's matching read (`email = ANY($n)` under a generic
plan) then took a (tenant_id, postal_code) index and filtered the tenant's
rows, chunk after chunk; 100,000 rows into such a database took 20 s
(9 s with this function; 6.5 s into tables analysed already). The application role may not ANALYZE (it owns no table), so
the owner's SECURITY DEFINER function does it, for these four tables only,
each one whose rows changed since its last analysis by more than it held then
(and 1,000), while the statistics say it holds fewer than 10,000 rows: once
they know that many, a generic plan estimates the tenant's rows from the
table's current size and takes the identifier's index (an import from
2,000 rows on analyses three times, a few milliseconds each). Called inside
an import chunk's transaction, its ANALYZE holds the table's
SHARE UPDATE EXCLUSIVE lock until that chunk commits; `SKIP_LOCKED` leaves a
table another transaction is analysing (the chunk beside it, another
tenant's import, autovacuum) instead of waiting for it. `search_path` ends
with pg_temp: a caller's temporary table named like one of the four is
never the one analysed. Committed statistics invalidate
the plans cached on every connection. It takes no argument and returns how
many tables it analysed. PostgreSQL only (SQLite's import is not planned so);
the EXECUTE right is in `src/optinbase/sql/grants.sql`.
"""

from optinbase.schema import raw_migration

ID = "2026-12-02T15:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports refresh the statistics of the tables they grow while small"

POSTGRES = [
    """CREATE FUNCTION optinbase_refresh_import_statistics() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  grown regclass;
  analysed integer := 0;
BEGIN
  FOR grown IN
    SELECT c.oid::regclass FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE c.oid IN ('contact'::regclass, 'consent_event'::regclass,
                     'consent_state'::regclass, 'change_log'::regclass)
       AND c.reltuples < 10000
       AND s.n_mod_since_analyze > greatest(c.reltuples, 1000)
  LOOP
    EXECUTE format('ANALYZE (SKIP_LOCKED) %s', grown);
    analysed := analysed + 1;
  END LOOP;
  RETURN analysed;
END $$""",
    "REVOKE ALL ON FUNCTION optinbase_refresh_import_statistics() FROM PUBLIC",
]

forwards = raw_migration(ID, "consent", DESCRIPTION, POSTGRES, [])
