-- What the application role (DATABASE_URL's user) may do: nothing else.
-- `optinbase migrate` applies this file after the migrations on every run, in one
-- transaction, with :"app_role" and :"DBNAME" quoted in; it is also plain psql:
--   psql "$DATABASE_OWNER_URL" -v app_role=optinbase_app -f src/optinbase/sql/grants.sql
-- Everything is revoked first, so a right removed here is gone after the next
-- migrate. The role owns nothing, has no DDL and no BYPASSRLS: row-level security
-- (forced on every tenant table) decides which rows it sees.

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app_role";
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM :"app_role";

GRANT USAGE ON SCHEMA public TO :"app_role";
-- Which migrations ran: the server refuses to start on an unmigrated database.
GRANT SELECT ON migration TO :"app_role";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- Imports COPY into temporary staging tables (COPY into an RLS table is refused).
GRANT TEMPORARY ON DATABASE :"DBNAME" TO :"app_role";

-- Control plane: tenants are created by the owner (CLI); a tenant edits its own profile.
-- A tenant's secret (the key of its suppression hashes) is not among the columns: the
-- role reads it through optinbase_tenant_secret(id), for the tenant of its transaction only.
GRANT SELECT ON agency TO :"app_role";
GRANT SELECT (id, slug, name, legal_name, dpo_email, country, agency_id, settings, created_at)
  ON tenant TO :"app_role";
GRANT EXECUTE ON FUNCTION optinbase_tenant_secret(uuid) TO :"app_role";
-- On Citus, a write to a reference table (api_key, membership) locks the reference tables
-- it refers to (agency, tenant) on the workers, which Citus allows only to a role that may
-- UPDATE, DELETE or TRUNCATE them (lock_shard_resources). TRUNCATE is the harmless one:
-- both tables are referenced by foreign keys, so TRUNCATE is refused, and with CASCADE it
-- needs TRUNCATE on the referencing tables, which the role does not have.
GRANT TRUNCATE ON agency, tenant TO :"app_role";
GRANT UPDATE (name, legal_name, dpo_email, country, settings) ON tenant TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON staff_user, membership, staff_session TO :"app_role";
-- Shared rate-limit counters (optinbase.limits): keyed hashes, no tenant, no personal data.
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit TO :"app_role";
-- Keys are never rewritten: renamed, stamped when used, revoked.
GRANT SELECT, INSERT ON api_key TO :"app_role";
GRANT UPDATE (name, last_used_at, revoked_at) ON api_key TO :"app_role";

-- Tenant data.
GRANT SELECT, INSERT, UPDATE, DELETE ON contact, consent_state, idempotency_record, segment
  TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON purpose, ledger_head, import_job TO :"app_role";
-- Notices and the request trail never change.
GRANT SELECT, INSERT ON notice, request_event TO :"app_role";
-- Suppressions are lifted only by DELETE /v1/suppressions or the admin's form,
-- with a reason, audited (consent/suppression_list.py); never rewritten.
GRANT SELECT, INSERT, DELETE ON suppression TO :"app_role";
-- Form versions never change either (a proof names the version it was made on).
GRANT SELECT, INSERT ON form_version TO :"app_role";
-- The ledger is append-only: erasure may only blank the personal columns
-- (the ledger guard trigger refuses any other change).
GRANT SELECT, INSERT ON consent_event TO :"app_role";
GRANT UPDATE (contact_id, ip, user_agent, pii_salt, source) ON consent_event TO :"app_role";
GRANT SELECT, INSERT ON audit_event TO :"app_role";
-- The change feed only grows; erasure deletes the person's earlier changes.
GRANT SELECT, INSERT, DELETE ON change_log TO :"app_role";
GRANT UPDATE (details, actor) ON audit_event TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON data_subject_request TO :"app_role";
-- Re-consent: campaigns count what they sent and what was confirmed; a request
-- is stamped when the person confirms (erasure removes it with the contact).
GRANT SELECT, INSERT, UPDATE ON reconsent_campaign TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON reconsent_request TO :"app_role";
-- Phone canvassing: proof beside the ledger and the calls made (erasure deletes both).
GRANT SELECT, INSERT, DELETE ON phone_proof, contact_attempt TO :"app_role";

-- Delivery. Queue and forget (erasure) messages, edit their content; delivery state
-- changes only through the owner's SECURITY DEFINER functions, per tenant, under a
-- claim token (migration messaging_2026_12_01t06_20): no setting opens it wider.
GRANT SELECT, INSERT, DELETE ON outbox_message TO :"app_role";
GRANT UPDATE (recipient, subject, payload, contact_id) ON outbox_message TO :"app_role";
GRANT EXECUTE ON FUNCTION optinbase_outbox_due(timestamptz, integer),
  optinbase_outbox_claim(uuid, uuid, timestamptz, timestamptz, integer, integer, integer, text),
  optinbase_outbox_touch(uuid, uuid[], uuid, timestamptz),
  optinbase_outbox_record(uuid, uuid, uuid, text, timestamptz, text, timestamptz)
  TO :"app_role";
-- Imports: the statistics of the four tables they grow, while small (migration consent_2026_12_02t15_40).
GRANT EXECUTE ON FUNCTION optinbase_refresh_import_statistics() TO :"app_role";
-- GET /metrics: counts and ages per tenant, summed by the caller (migration messaging_2026_12_01t11_00).
GRANT EXECUTE ON FUNCTION optinbase_ops_gauges(timestamptz) TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON webhook_endpoint TO :"app_role";
-- E-mail providers' events: endpoints are disabled, never deleted; handled events
-- stay (idempotency, soft-bounce counts) until erasure deletes the person's.
GRANT SELECT, INSERT ON inbound_endpoint TO :"app_role";
GRANT UPDATE (topic_arn, disabled_at) ON inbound_endpoint TO :"app_role";
GRANT SELECT, INSERT, DELETE ON inbound_event TO :"app_role";
