"""Phone canvassing (Code de la consommation L. 223-1 as amended by the law of
30 June 2025; D. 223-9, décret n° 2022-1313): proof of phone consent and the
calls made.

* `phone_proof` — for a phone-channel ledger event, how consent was collected
  (form, in store, during a call), the notice or script version, and for a
  consent given during a call the agent and a reference to the recording.
  Kept beside the ledger (whose rows never change), one row per event; erasure
  deletes it with the person's other personal data.
* `contact_attempt` — each call or attempted call (outcome answered,
  no_answer, voicemail or refused), for the frequency rule (at most four in
  thirty days) and the sixty-day pause after a refusal.

Tenant tables as the `constraints` migration has them: key (tenant_id, id),
links paired with tenant_id, row-level security forced.
"""

from optinbase.schema import TABLE_TYPES, raw_migration, row_level_security

ID = "2026-12-01T12:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "phone consent proof and contact attempts"

PROOF = (
    "CREATE TABLE phone_proof (id {uuid} NOT NULL, tenant_id {uuid} NOT NULL"
    " REFERENCES tenant (id) ON DELETE RESTRICT, event_id {uuid} NOT NULL,"
    " collected_via VARCHAR(16) NOT NULL, script_version VARCHAR(100) NULL,"
    " agent VARCHAR(200) NULL, recording_ref VARCHAR(500) NULL, {key}"
    " FOREIGN KEY (tenant_id, event_id) REFERENCES consent_event (tenant_id, id)"
    " ON DELETE RESTRICT)"
)
ATTEMPT = (
    "CREATE TABLE contact_attempt (id {uuid} NOT NULL, tenant_id {uuid} NOT NULL"
    " REFERENCES tenant (id) ON DELETE RESTRICT, contact_id {uuid} NOT NULL,"
    " channel VARCHAR(16) NOT NULL, purpose_id {uuid} NULL, at {ts} NOT NULL,"
    " outcome VARCHAR(16) NOT NULL, agent VARCHAR(200) NULL, created_at {ts} NOT NULL, {key}"
    " FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id) ON DELETE CASCADE,"
    " FOREIGN KEY (tenant_id, purpose_id) REFERENCES purpose (tenant_id, id) ON DELETE RESTRICT)"
)
INDEXES = [
    "CREATE UNIQUE INDEX phone_proof_event ON phone_proof (tenant_id, event_id)",
    "CREATE INDEX contact_attempt_contact_at ON contact_attempt (tenant_id, contact_id, at)",
]
PG_TYPES, SQLITE_TYPES = TABLE_TYPES["postgres"], TABLE_TYPES["sqlite"]

PG_STATEMENTS = [
    PROOF.format(**PG_TYPES), ATTEMPT.format(**PG_TYPES), *INDEXES,
    *row_level_security("phone_proof"), *row_level_security("contact_attempt"),
]
SQLITE_STATEMENTS = [
    PROOF.format(**SQLITE_TYPES), ATTEMPT.format(**SQLITE_TYPES), *INDEXES,
    "CREATE TRIGGER contact_takes_attempts BEFORE DELETE ON contact BEGIN"
    " DELETE FROM contact_attempt WHERE tenant_id = OLD.tenant_id AND contact_id = OLD.id; END",
]


forwards = raw_migration(ID, "consent", DESCRIPTION, PG_STATEMENTS, SQLITE_STATEMENTS)
