"""Outbox workers get their access through functions, not through a setting.

Before: a policy let any transaction that declared `app.worker = 'outbox'`
read and change every tenant's outbox rows and webhook secrets — and the
application role can declare that itself. Now (PostgreSQL):

* Both `outbox_worker` policies are dropped: with no tenant set, nothing of
  the outbox or of webhook endpoints is visible, whatever `app.worker` says.
* Workers work per tenant, inside that tenant's transaction (RLS as usual), and
  change delivery state only through SECURITY DEFINER functions owned by the
  owner role (still under forced RLS, so only the caller's tenant):
  - `optinbase_outbox_due(now, max_priority)` — which tenants have due rows
    (tenant id and best priority class; nothing of the rows). The one
    cross-tenant look: it sets each tenant in turn inside the function and
    puts the caller's value back before returning (an error aborts the
    caller's transaction, which drops the setting with it).
  - `optinbase_outbox_claim(tenant, token, now, until, max_priority, limit,
    max_attempts, domain)` — marks rows past their last attempt `dead`, then
    leases due rows (`FOR UPDATE SKIP LOCKED`, `tenant_id = $n`: routable on
    Citus) to the claim token, counts the attempt and fixes the Message-ID.
  - `optinbase_outbox_touch(tenant, ids, token, until)` — extends the lease of
    the rows still leased to this token and names them (a worker whose lease
    may not outlast its next send extends it first).
  - `optinbase_outbox_record(tenant, id, token, status, next, error, at)` — an
    outcome, only while the row is still leased to that token.
* The application role keeps SELECT, INSERT and DELETE (enqueue, erasure) and
  UPDATE of the content columns only; a restrictive policy makes every new
  row start `pending` with no attempt and no claim.
* Live-row indexes per tenant replace the cross-tenant due index (both engines).

Every statement tolerates being applied again (IF EXISTS). The application
role's rights on the outbox and on these functions are in
`src/optinbase/sql/grants.sql`, which `optinbase migrate` applies after this.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T06:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox: per-tenant claims through owner functions, no app.worker policy"

COMMON = [
    "DROP INDEX IF EXISTS outbox_message_due",
    "CREATE INDEX IF NOT EXISTS outbox_message_pending ON outbox_message"
    " (tenant_id, priority, next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS outbox_message_leased ON outbox_message"
    " (tenant_id, locked_until) WHERE status = 'sending'",
]

FUNCTIONS = {
    "optinbase_outbox_due(timestamptz, integer)": """
CREATE FUNCTION optinbase_outbox_due(p_now timestamptz, p_max_priority integer)
RETURNS TABLE (tenant_id uuid, priority integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
  saved text := current_setting('app.tenant_id', true);
  t uuid;
  best integer;
BEGIN
  FOR t IN SELECT tenant.id FROM tenant ORDER BY tenant.id LOOP
    PERFORM set_config('app.tenant_id', t::text, true);
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
  PERFORM set_config('app.tenant_id', coalesce(saved, ''), true);
END $$""",
    "optinbase_outbox_claim(uuid, uuid, timestamptz, timestamptz, integer, integer, integer, text)": """
CREATE FUNCTION optinbase_outbox_claim(
  p_tenant uuid, p_token uuid, p_now timestamptz, p_until timestamptz,
  p_max_priority integer, p_limit integer, p_max_attempts integer, p_domain text)
RETURNS TABLE (id uuid, kind varchar, recipient varchar, subject varchar, payload jsonb,
               attempts integer, priority integer, message_id varchar)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT
AS $$
  UPDATE outbox_message SET status = 'dead', locked_until = NULL,
         last_error = coalesce(last_error || ' / ', '') || 'gave up: no attempt left'
   WHERE tenant_id = p_tenant AND attempts >= p_max_attempts
     AND (status = 'pending' OR (status = 'sending' AND locked_until < p_now));
  -- Materialised: as `id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` the
  -- planner may run the subquery more than once and lease more than n rows.
  WITH picked AS MATERIALIZED (
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
  RETURNING o.id, o.kind, o.recipient, o.subject, o.payload, o.attempts, o.priority, o.message_id
$$""",
    "optinbase_outbox_touch(uuid, uuid[], uuid, timestamptz)": """
CREATE FUNCTION optinbase_outbox_touch(p_tenant uuid, p_ids uuid[], p_token uuid,
                                       p_until timestamptz)
RETURNS SETOF uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT
AS $$
  UPDATE outbox_message SET locked_until = p_until
   WHERE tenant_id = p_tenant AND id = ANY(p_ids) AND claim_token = p_token
     AND status = 'sending'
  RETURNING id
$$""",
    "optinbase_outbox_record(uuid, uuid, uuid, text, timestamptz, text, timestamptz)": """
CREATE FUNCTION optinbase_outbox_record(
  p_tenant uuid, p_id uuid, p_token uuid, p_status text, p_next timestamptz,
  p_error text, p_at timestamptz)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT
AS $$
  WITH recorded AS (
    UPDATE outbox_message SET
           status = CASE p_status WHEN 'released' THEN 'pending' ELSE p_status END,
           attempts = CASE p_status WHEN 'released' THEN attempts - 1 ELSE attempts END,
           next_attempt_at = coalesce(p_next, next_attempt_at),
           last_error = CASE p_status WHEN 'released' THEN last_error ELSE p_error END,
           sent_at = CASE WHEN p_status IN ('sent', 'logged') THEN p_at ELSE sent_at END,
           locked_until = NULL
     WHERE tenant_id = p_tenant AND id = p_id AND claim_token = p_token AND status = 'sending'
       AND p_status IN ('sent', 'logged', 'cancelled', 'pending', 'dead', 'released')
    RETURNING 1)
  SELECT count(*) = 1 FROM recorded
$$""",
}

POSTGRES = [
    "DROP POLICY IF EXISTS outbox_worker ON outbox_message",
    "DROP POLICY IF EXISTS outbox_worker ON webhook_endpoint",
    "DROP POLICY IF EXISTS outbox_new_rows ON outbox_message",
    "CREATE POLICY outbox_new_rows ON outbox_message AS RESTRICTIVE FOR INSERT"
    " WITH CHECK (status = 'pending' AND attempts = 0 AND claim_token IS NULL"
    " AND locked_until IS NULL)",
    *(f"DROP FUNCTION IF EXISTS {signature}" for signature in FUNCTIONS),
    *FUNCTIONS.values(),
    *(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC" for signature in FUNCTIONS),
]


# SQLite has no Citus to route: its due scan reads across tenants, class by class.
SQLITE = [
    "CREATE INDEX IF NOT EXISTS outbox_message_due_class ON outbox_message"
    " (priority, next_attempt_at) WHERE status = 'pending'",
]


async def _apply() -> None:
    engine = engine_finder()
    statements = COMMON + (POSTGRES if engine.engine_type == "postgres" else SQLITE)
    for statement in statements:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="messaging", description=DESCRIPTION)
    manager.add_raw(_apply)
    return manager
