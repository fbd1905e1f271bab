-- Distributes a migrated Optinbase database on a Citus coordinator (docs/scale-out.md).
--
--   optinbase migrate                       # DATABASE_OWNER_URL = the coordinator, as the owner
--   psql "$DATABASE_OWNER_URL" -v ON_ERROR_STOP=1 -f scripts/citus-distribute.sql
--
-- Run it as the tables' owner (create_distributed_table needs ownership), once
-- after the first migrate and again after any migration that adds a table; tables
-- already distributed are left as they are. Tenant tables (tenant_id NOT NULL)
-- are sharded by tenant_id, all colocated, so every statement of one tenant,
-- joins and foreign keys included, runs on one worker; the control plane and
-- Piccolo's migration table are reference tables (a copy on every node).
--
-- Citus refuses to distribute a table that a local table references, and
-- turns every table linked by foreign keys to a reference table into a "local
-- table added to metadata" that can no longer be colocated; so the foreign keys
-- of the tables still to distribute are set aside (their definitions kept),
-- the tables distributed, and the keys added back exactly as they were.

\set ON_ERROR_STOP 1
BEGIN;
-- The guards of the ledger, notices and the request trail are row triggers that
-- only read the row they guard: safe on shards (docs/scale-out.md, "Triggers").
SET LOCAL citus.enable_unsafe_triggers = on;
-- One connection per worker inside this transaction (DDL then DDL on the same shards).
SET LOCAL citus.multi_shard_modify_mode = 'sequential';

CREATE TEMPORARY TABLE optinbase_plan (tbl regclass PRIMARY KEY, kind text NOT NULL) ON COMMIT DROP;
INSERT INTO optinbase_plan
SELECT c.oid::regclass,
       CASE WHEN EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
                         AND a.attname = 'tenant_id' AND a.attnotnull AND NOT a.attisdropped)
            THEN 'distributed' ELSE 'reference' END
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
   AND pg_get_userbyid(c.relowner) = current_user
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.deptype = 'e')
   AND NOT EXISTS (SELECT FROM pg_dist_partition p
                   WHERE p.logicalrelid = c.oid AND (p.partmethod = 'h' OR p.repmodel = 't'));

CREATE TEMPORARY TABLE optinbase_keys ON COMMIT DROP AS
SELECT k.conrelid::regclass AS tbl, k.conname, pg_get_constraintdef(k.oid) AS definition
  FROM pg_constraint k
 WHERE k.contype = 'f'
   AND (k.conrelid IN (SELECT tbl FROM optinbase_plan) OR k.confrelid IN (SELECT tbl FROM optinbase_plan));

DO $$
DECLARE
  k record;
  p record;
  first regclass;
BEGIN
  FOR k IN SELECT * FROM optinbase_keys LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.tbl, k.conname);
  END LOOP;
  -- A table Citus already took into its metadata (linked to a reference table)
  -- goes back to a plain table first.
  FOR p IN SELECT tbl FROM optinbase_plan
            WHERE tbl IN (SELECT logicalrelid FROM pg_dist_partition) LOOP
    PERFORM undistribute_table(p.tbl);
  END LOOP;
  FOR p IN SELECT tbl FROM optinbase_plan WHERE kind = 'reference' ORDER BY tbl::text LOOP
    PERFORM create_reference_table(p.tbl);
  END LOOP;
  -- Colocated with the tenant tables distributed before, if any.
  SELECT logicalrelid INTO first FROM pg_dist_partition
   WHERE partmethod = 'h' AND logicalrelid NOT IN (SELECT tbl FROM optinbase_plan)
   ORDER BY logicalrelid::text LIMIT 1;
  FOR p IN SELECT tbl FROM optinbase_plan WHERE kind = 'distributed' ORDER BY tbl::text LOOP
    PERFORM create_distributed_table(p.tbl, 'tenant_id',
                                     colocate_with => coalesce(first::text, 'default'));
    first := coalesce(first, p.tbl);
  END LOOP;
  -- Rows a table held (Piccolo's migration rows) were copied to its shards; the
  -- coordinator's own copy is no longer read.
  FOR p IN SELECT tbl FROM optinbase_plan LOOP
    PERFORM truncate_local_data_after_distributing_table(p.tbl);
  END LOOP;
  FOR k IN SELECT * FROM optinbase_keys LOOP
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.tbl, k.conname, k.definition);
  END LOOP;
END $$;

COMMIT;

SELECT logicalrelid AS "table",
       CASE WHEN partmethod = 'h' THEN 'distributed by ' || column_to_column_name(logicalrelid, partkey)
            ELSE 'reference' END AS "as", colocationid
  FROM pg_dist_partition
 WHERE logicalrelid::regclass::text NOT LIKE 'pg_%'
 ORDER BY partmethod, logicalrelid::text;
