"""HOOK — who must never be in an audience, whatever the segment says.

Count and export AND this condition onto every audience query (alias `c` is the
contact row, `s` its consent_state row for the asked channel and purpose).

TO BE FILLED by the suppression-list / data-subject-request work:
* suppressed identifiers: a keyed hash of c.email / c.phone in `suppression`
  for this channel or for all channels;
* restricted contacts (GDPR Art. 18 restriction in progress).
Write it like compile.py: fixed SQL text, `{}` placeholders, values as args,
every subquery filtered on tenant_id (e.g. `NOT EXISTS (SELECT 1 FROM suppression
x WHERE x.tenant_id = c.tenant_id AND ...)`).
"""

from __future__ import annotations

import uuid

from consent.segments.compile import TRUE, Sql


def exclusions_sql(tenant_id: uuid.UUID, channel: str, *, postgres: bool) -> Sql:
    """A condition true for contacts that may be contacted; for now, everyone."""
    return TRUE
