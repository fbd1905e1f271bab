"""HOOK — who must never be in an audience, whatever the segment says.

Count and export AND this condition onto every audience query (alias `c` is the
contact row, `s` its consent_state row for the asked channel and purpose).

* suppressed identifiers (done): `c.email_hash` / `c.phone_hash` listed in
  `suppression` for this channel or for all channels — see
  `consent.suppression.exclusion_sql`, two hash anti-joins;
* restricted contacts (GDPR Art. 18, set by a completed restriction request):
  `c.restricted_at IS NULL`;
* on `sms` and `phone`, contacts without a phone number (consent recorded
  before such grants were refused): an export row with an empty phone is
  nobody to call, and proof of nothing.
Write it like compile.py: fixed SQL text, `{}` placeholders, values as args,
every subquery filtered on tenant_id. consent/suppression.py already offers the
suppression half: `Sql(suppression.exclusion_sql("c"), (channel, channel))`.
"""

from __future__ import annotations

import uuid

from consent import suppression
from consent.schemas import PHONE_CHANNELS
from consent.segments.compile import Sql


def exclusions_sql(tenant_id: uuid.UUID, channel: str, *, postgres: bool) -> Sql:
    """A condition true for contacts that may be contacted on `channel`."""
    phone = " AND c.phone IS NOT NULL" if channel in PHONE_CHANNELS else ""
    return Sql(f"c.restricted_at IS NULL{phone} AND {suppression.exclusion_sql('c')}",
               (channel, channel))
