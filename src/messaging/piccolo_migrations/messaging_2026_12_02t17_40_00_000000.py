"""The owner's outbox and operations functions in forms Citus runs (tried on
a real Citus 13.2 cluster: a coordinator and two workers).

* `optinbase_outbox_due` and `optinbase_ops_gauges` set each tenant in turn
  with `SET LOCAL` (after `SET LOCAL citus.propagate_set_commands = 'local'`;
  on plain PostgreSQL that `citus.` setting is a placeholder) instead of
  `set_config`, which stays on the coordinator: row-level security on the
  shards saw no tenant, and both counted nothing there. Their callers run
  them inside a transaction block (`db.across_tenants`), the only place
  Citus carries such a setting to the shards.
* `optinbase_outbox_claim`, `optinbase_outbox_touch` and
  `optinbase_outbox_record` become PL/pgSQL: Citus cannot plan the
  statements of a SQL function that use its parameters ("could not create
  distributed plan … use of parameters in SQL functions"), and turned
  `CASE p_status WHEN 'released'` into "operator does not exist: text =
  boolean" on a worker (now `CASE WHEN p_status = 'released'`).

Their search path ends with pg_temp (before: the migrating session's, which
put the caller's temporary tables first). Same names, arguments and results (CREATE OR REPLACE keeps the owner, and
the rights `src/optinbase/sql/grants.sql` gives). SQLite has none of them.
"""

from optinbase.schema import Migration, is_postgres, run_ddl

ID = "2026-12-02T17:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox and gauges functions Citus runs: SET LOCAL per tenant, PL/pgSQL"

FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION optinbase_outbox_due(p_now timestamptz, p_max_priority integer)
RETURNS TABLE (tenant_id uuid, priority integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  saved text := current_setting('app.tenant_id', true);
  t uuid;
  best integer;
BEGIN
  SET LOCAL citus.propagate_set_commands = 'local';
  FOR t IN SELECT tenant.id FROM tenant ORDER BY tenant.id LOOP
    EXECUTE format('SET LOCAL app.tenant_id = %L', t);
    best := NULL;
    FOR c IN 0..p_max_priority LOOP
      IF EXISTS (SELECT 1 FROM outbox_message o WHERE o.tenant_id = t AND o.status = 'pending'
                 AND o.priority = c AND o.next_attempt_at <= p_now) THEN
        best := c;
        EXIT;
      END IF;
    END LOOP;
    best := least(best, (SELECT min(o.priority) FROM outbox_message o WHERE o.tenant_id = t
                         AND o.status = 'sending' AND o.locked_until < p_now
                         AND o.priority <= p_max_priority));
    IF best IS NOT NULL THEN
      tenant_id := t;
      priority := best;
      RETURN NEXT;
    END IF;
  END LOOP;
  EXECUTE format('SET LOCAL app.tenant_id = %L', coalesce(saved, ''));
END $$""",
    """
CREATE OR REPLACE FUNCTION optinbase_ops_gauges(p_now timestamptz)
RETURNS TABLE (source text, priority integer, kind text, status text, n double precision,
               oldest_due_seconds double precision)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  saved text := current_setting('app.tenant_id', true);
  t uuid;
BEGIN
  SET LOCAL citus.propagate_set_commands = 'local';
  FOR t IN SELECT tenant.id FROM tenant ORDER BY tenant.id LOOP
    EXECUTE format('SET LOCAL app.tenant_id = %L', t);
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
  EXECUTE format('SET LOCAL app.tenant_id = %L', coalesce(saved, ''));
END $$""",
    """
CREATE OR REPLACE FUNCTION optinbase_outbox_claim(
  p_tenant uuid, p_token uuid, p_now timestamptz, p_until timestamptz,
  p_max_priority integer, p_limit integer, p_max_attempts integer, p_domain text)
RETURNS TABLE (id uuid, kind varchar, recipient varchar, subject varchar, payload jsonb,
               attempts integer, priority integer, message_id varchar)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  UPDATE outbox_message SET status = 'dead', locked_until = NULL,
         last_error = coalesce(last_error || ' / ', '') || 'gave up: no attempt left'
   WHERE tenant_id = p_tenant AND attempts >= p_max_attempts
     AND (status = 'pending' OR (status = 'sending' AND locked_until < p_now));
  -- Materialised: as `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` the
  -- planner may run the subquery more than once and lease more than n rows.
  RETURN QUERY WITH picked AS MATERIALIZED (
    SELECT i.id FROM outbox_message i
     WHERE i.tenant_id = p_tenant AND i.priority <= p_max_priority
       AND i.attempts < p_max_attempts
       AND ((i.status = 'pending' AND i.next_attempt_at <= p_now)
            OR (i.status = 'sending' AND i.locked_until < p_now))
     ORDER BY i.priority, i.next_attempt_at, i.id
     LIMIT p_limit FOR UPDATE SKIP LOCKED)
  UPDATE outbox_message o SET status = 'sending', claim_token = p_token, locked_until = p_until,
         attempts = o.attempts + 1,
         message_id = CASE WHEN o.kind = 'email'
                      THEN coalesce(o.message_id, '<' || o.id::text || '@' || p_domain || '>') END
    FROM picked
   WHERE o.tenant_id = p_tenant AND o.id = picked.id
  RETURNING o.id, o.kind, o.recipient, o.subject, o.payload, o.attempts, o.priority,
            o.message_id;
END $$""",
    """
CREATE OR REPLACE FUNCTION optinbase_outbox_touch(p_tenant uuid, p_ids uuid[], p_token uuid,
                                                  p_until timestamptz)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
  RETURN QUERY UPDATE outbox_message SET locked_until = p_until
   WHERE tenant_id = p_tenant AND id = ANY(p_ids) AND claim_token = p_token
     AND status = 'sending'
  RETURNING id;
END $$""",
    """
CREATE OR REPLACE FUNCTION optinbase_outbox_record(
  p_tenant uuid, p_id uuid, p_token uuid, p_status text, p_next timestamptz,
  p_error text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  recorded integer;
BEGIN
  UPDATE outbox_message SET
         status = CASE WHEN p_status = 'released' THEN 'pending' ELSE p_status END,
         attempts = CASE WHEN p_status = 'released' THEN attempts - 1 ELSE attempts END,
         next_attempt_at = coalesce(p_next, next_attempt_at),
         last_error = CASE WHEN p_status = 'released' THEN last_error ELSE p_error END,
         sent_at = CASE WHEN p_status IN ('sent', 'logged') THEN p_at ELSE sent_at END,
         locked_until = NULL
   WHERE tenant_id = p_tenant AND id = p_id AND claim_token = p_token AND status = 'sending'
     AND p_status IN ('sent', 'logged', 'cancelled', 'pending', 'dead', 'released');
  GET DIAGNOSTICS recorded = ROW_COUNT;
  RETURN recorded = 1;
END $$""",
]


async def _apply() -> None:
    if is_postgres():
        await run_ddl(FUNCTIONS)


async def forwards():
    manager = Migration(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
