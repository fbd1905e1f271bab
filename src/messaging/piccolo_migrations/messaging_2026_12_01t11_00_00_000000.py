"""Operations: `optinbase_ops_gauges(now)`, the one cross-tenant read behind
`GET /metrics` on PostgreSQL (the application role sees one tenant at a time
under row-level security).

Like `optinbase_outbox_due`, it is a SECURITY DEFINER function owned by the
owner role that sets each tenant in turn (every statement inside filters
`tenant_id = t`: routable on Citus) and puts the caller's setting back. It
returns counts and ages only — per tenant, never a row's content:
`('outbox', priority, kind, status, count, oldest due age in seconds)` and
`('requests', NULL, NULL, 'open' | 'overdue', count, NULL)`; the caller sums
them over tenants. SQLite needs nothing (no row-level security). The
application role's EXECUTE right is in `src/optinbase/sql/grants.sql`."""

from optinbase.schema import Migration, is_postgres, run_ddl

ID = "2026-12-01T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "operations: optinbase_ops_gauges for GET /metrics"

SIGNATURE = "optinbase_ops_gauges(timestamptz)"
FUNCTION = """
CREATE FUNCTION optinbase_ops_gauges(p_now timestamptz)
RETURNS TABLE (source text, priority integer, kind text, status text, n double precision,
               oldest_due_seconds double precision)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
  saved text := current_setting('app.tenant_id', true);
  t uuid;
BEGIN
  FOR t IN SELECT tenant.id FROM tenant ORDER BY tenant.id LOOP
    PERFORM set_config('app.tenant_id', t::text, true);
    RETURN QUERY
      SELECT 'outbox'::text, o.priority, o.kind::text, o.status::text, count(*)::float8,
             extract(epoch FROM p_now - min(o.next_attempt_at)
                     FILTER (WHERE o.status = 'pending' AND o.next_attempt_at <= p_now))::float8
        FROM outbox_message o
       WHERE o.tenant_id = t AND o.status IN ('pending', 'sending', 'dead')
       GROUP BY o.priority, o.kind, o.status;
    RETURN QUERY
      SELECT 'requests'::text, NULL::integer, NULL::text,
             CASE WHEN r.due_at < p_now THEN 'overdue' ELSE 'open' END, count(*)::float8,
             NULL::float8
        FROM data_subject_request r
       WHERE r.tenant_id = t AND r.status IN ('unverified', 'verified')
       GROUP BY 4;
  END LOOP;
  PERFORM set_config('app.tenant_id', coalesce(saved, ''), true);
END $$"""


async def _apply() -> None:
    if is_postgres():
        await run_ddl([f"DROP FUNCTION IF EXISTS {SIGNATURE}", FUNCTION,
                       f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC"])


async def forwards():
    manager = Migration(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
