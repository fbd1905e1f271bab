"""A consent state's event is checked at commit (issue 14 §4, import speed).

`consent_state_event_id_same_tenant` becomes DEFERRABLE INITIALLY DEFERRED:
a state must still name an event of its tenant, but the check runs when the
transaction commits. An import writes the states of a chunk's new contacts
before it takes the tenant's ledger head (their events' ids are drawn ahead),
and only the events go in while the tenant's other writers wait — the state
INSERT left the locked phase, which is the import's critical path. Declared
on the constraint, not by `SET CONSTRAINTS`, which Citus does not send to the
shards (citusdata/citus#2234). `ON DELETE RESTRICT` is never deferred.

PostgreSQL only: the SQLite schema checks the reference by a trigger and its
import writes events before states (no head is held across statements there).
"""

from optinbase.schema import raw_migration

ID = "2026-12-02T09:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "consent_state's event reference checked at commit"

# Dropped and added again in one statement rather than `ALTER CONSTRAINT`,
# which Citus refuses on a distributed table (an existing cluster could not
# migrate); adding a key it supports, DEFERRABLE included.
POSTGRES = [
    "ALTER TABLE consent_state DROP CONSTRAINT consent_state_event_id_same_tenant,"
    " ADD CONSTRAINT consent_state_event_id_same_tenant FOREIGN KEY (tenant_id, event_id)"
    " REFERENCES consent_event (tenant_id, id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED",
]

forwards = raw_migration(ID, "consent", DESCRIPTION, POSTGRES, [])
