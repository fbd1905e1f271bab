"""Consent over time (issue 17): purpose kinds and validity, expiry reminders,
re-consent campaigns.

* `purpose.kind` — `marketing` (every purpose so far) or `tracking`, the
  consent to individual open/click measurement in e-mails, asked on its own
  (CNIL draft recommendation on tracking pixels, 2025).
* `purpose.validity_months` — how long a consent to it lasts (NULL: until
  withdrawn); the worker expires older ones (consent.expiry).
* `consent_state.reminded_at` — when the "your consent expires soon" e-mail
  went for the current grant (one reminder per grant).
* `reconsent_campaign` — a re-permission campaign: a segment asked to agree
  to a new notice, with its counters (sent, confirmed, pending).
* `reconsent_request` — one person asked to consent again to a notice (by a
  campaign or by an expiry reminder), and when they confirmed.

New tenant tables follow the Citus rules of the `constraints` migration:
primary key (tenant_id, id), keys to other tenant tables paired with
tenant_id, row-level security forced. Only additions: nothing existing changes.
"""

from optinbase.schema import TABLE_TYPES, raw_migration, row_level_security

ID = "2026-12-01T12:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "purpose kind and validity, expiry reminders, re-consent campaigns"

COLUMNS = [
    "ALTER TABLE purpose ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'marketing'",
    "ALTER TABLE purpose ADD COLUMN validity_months INTEGER NULL",
    "ALTER TABLE consent_state ADD COLUMN reminded_at {ts} NULL",
]

CAMPAIGN = (
    "CREATE TABLE reconsent_campaign (id {uuid} NOT NULL, tenant_id {uuid} NOT NULL"
    " REFERENCES tenant (id) ON DELETE RESTRICT, name VARCHAR(200) NOT NULL,"
    " segment_id {uuid} NOT NULL, purpose_id {uuid} NOT NULL, channel VARCHAR(16) NOT NULL,"
    " notice_id {uuid} NOT NULL, actor VARCHAR(200) NOT NULL, created_at {ts} NOT NULL,"
    " sent INTEGER NOT NULL DEFAULT 0, confirmed INTEGER NOT NULL DEFAULT 0,"
    " pending INTEGER NOT NULL DEFAULT 0, {key}"
    " FOREIGN KEY (tenant_id, purpose_id) REFERENCES purpose (tenant_id, id) ON DELETE RESTRICT,"
    " FOREIGN KEY (tenant_id, notice_id) REFERENCES notice (tenant_id, id) ON DELETE RESTRICT)"
)
REQUEST = (
    "CREATE TABLE reconsent_request (id {uuid} NOT NULL, tenant_id {uuid} NOT NULL"
    " REFERENCES tenant (id) ON DELETE RESTRICT, campaign_id {uuid} NULL,"
    " contact_id {uuid} NOT NULL, purpose_id {uuid} NOT NULL, channel VARCHAR(16) NOT NULL,"
    " notice_id {uuid} NOT NULL, reason VARCHAR(16) NOT NULL, sent_at {ts} NOT NULL,"
    " confirmed_at {ts} NULL, {key}"
    " FOREIGN KEY (tenant_id, campaign_id) REFERENCES reconsent_campaign (tenant_id, id)"
    " ON DELETE RESTRICT,"
    " FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id) ON DELETE CASCADE,"
    " FOREIGN KEY (tenant_id, purpose_id) REFERENCES purpose (tenant_id, id) ON DELETE RESTRICT,"
    " FOREIGN KEY (tenant_id, notice_id) REFERENCES notice (tenant_id, id) ON DELETE RESTRICT)"
)
INDEXES = [
    "CREATE INDEX reconsent_campaign_tenant_created ON reconsent_campaign"
    " (tenant_id, created_at, id)",
    "CREATE UNIQUE INDEX reconsent_request_once ON reconsent_request"
    " (tenant_id, campaign_id, contact_id)",
    "CREATE INDEX reconsent_request_tenant_contact ON reconsent_request (tenant_id, contact_id)",
]

PG_TYPES, SQLITE_TYPES = TABLE_TYPES["postgres"], TABLE_TYPES["sqlite"]

PG_STATEMENTS = [
    *(c.format(**PG_TYPES) for c in COLUMNS),
    CAMPAIGN.format(**PG_TYPES),
    REQUEST.format(**PG_TYPES),
    *INDEXES,
    *row_level_security("reconsent_campaign"),
    *row_level_security("reconsent_request"),
]

SQLITE_STATEMENTS = [
    *(c.format(**SQLITE_TYPES) for c in COLUMNS),
    CAMPAIGN.format(**SQLITE_TYPES),
    REQUEST.format(**SQLITE_TYPES),
    *INDEXES,
    # SQLite's foreign keys are not enforced here: erasing a contact takes its
    # re-consent requests with it, as PostgreSQL's ON DELETE CASCADE does.
    "CREATE TRIGGER contact_takes_reconsent BEFORE DELETE ON contact BEGIN"
    " DELETE FROM reconsent_request WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
]


forwards = raw_migration(ID, "consent", DESCRIPTION, PG_STATEMENTS, SQLITE_STATEMENTS)
