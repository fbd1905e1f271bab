"""After a restore: carry out again every journalled erasure that the restored
data does not contain (`optinbase erasures reapply`, run by `optinbase
restore` too), so a backup taken before an erasure never brings the person
back.

Which erasures the restored data already contains is read from the data, not
from clocks: an erasure of a contact writes its `contact.erased` audit event
in the same transaction, so a database holding that event holds the erasure.
An erasure request for an address the base never held left a suppression
entry and blanked the requests made before it; it is contained when both
are there. Everything else is re-run:

* the contact is still in the restored base → erased again (suppressed unless
  the journalled erasure was a retention purge), its requests, messages and
  ledger fields scrubbed exactly as the first time (`consent.erasure`);
* it is not (it came after the backup) → only the suppression entries come
  back, from the journalled keyed hashes (the address is not needed);
* a request-only erasure → its suppression entries, and the person's
  requests received before it blanked (and closed), with their e-mails.

Running it twice changes nothing the second time. A retention purge (not
suppressed) of someone absent from the restored base leaves nothing to do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Optional

import msgspec

from consent import contacts, erasure_journal
from consent.erasure import erase_contact
from consent.erasure_journal import Entry
from consent.requests.scrub import (
    close_after_erasure,
    forget_messages,
    open_requests,
    scrub_contact_requests,
)
from optinbase import audit, db
from optinbase.context import TenantContext

NOBODY = uuid.UUID(int=0)  # a contact id that matches no row


class Reapplied(msgspec.Struct, kw_only=True):
    """What one tenant's journal did to the restored data."""

    journalled: int = 0  # erasures in the journal
    contained: int = 0  # already in the restored data
    erased: int = 0  # contacts erased again
    suppressed: int = 0  # erasures whose suppression entries were put back (person absent)


_SUPPRESS = (
    "INSERT INTO suppression (id, tenant_id, identifier_hash, kind, channel, reason, created_at)"
    " VALUES ({}, {}, {}, {}, 'all', 'erasure', {})"
    " ON CONFLICT (tenant_id, identifier_hash, channel) DO NOTHING"
)
_SUPPRESSED = ("SELECT COUNT(*) FROM suppression WHERE tenant_id = {} AND identifier_hash = {}"
               " AND channel = 'all'")
_ERASED = ("SELECT 1 FROM audit_event WHERE tenant_id = {} AND action = 'contact.erased'"
           " AND object_type = 'contact' AND object_id = {} LIMIT 1")
_UNSCRUBBED = (
    "SELECT email, phone FROM data_subject_request WHERE tenant_id = {}"
    " AND subject_hash IN ({}, {}) AND (email IS NOT NULL OR phone IS NOT NULL)"
    " AND received_at <= {}"
)


def _hashes(entry: Entry) -> tuple[Optional[str], Optional[str]]:
    by_kind = {i.kind: i.hash for i in entry.identifiers}
    return by_kind.get("email"), by_kind.get("phone")


async def _suppress(ctx: TenantContext, entry: Entry) -> bool:
    """Puts back the entry's suppression entries; whether one was missing."""
    missing = False
    for identifier in entry.identifiers:
        if await db.fetchval(_SUPPRESSED, ctx.tenant_id, identifier.hash):
            continue
        missing = True
        await db.execute(_SUPPRESS, uuid.uuid4(), ctx.tenant_id, identifier.hash,
                         identifier.kind, dt.datetime.now(dt.timezone.utc))
    return missing


async def _request_only(ctx: TenantContext, entry: Entry) -> bool:
    """An erasure request that found no contact; whether anything was missing."""
    hashes = _hashes(entry)
    at = dt.datetime.fromisoformat(entry.at.replace("Z", "+00:00"))
    held = await db.fetch(_UNSCRUBBED, ctx.tenant_id, hashes[0] or "", hashes[1] or "", at)
    missing = await _suppress(ctx, entry)
    if held:
        still_open = await open_requests(ctx, NOBODY, hashes)
        await scrub_contact_requests(ctx, NOBODY, hashes)
        await close_after_erasure(ctx, still_open)
        await forget_messages(ctx, [v for row in held for v in (row["email"], row["phone"])])
    return missing or bool(held)


async def reapply(ctx: TenantContext) -> Reapplied:
    """Runs inside the tenant's transaction (the envelope's `each_tenant`)."""
    done = Reapplied()
    for entry in erasure_journal.entries(ctx.tenant_id):
        done.journalled += 1
        if entry.contact_id is None:
            if await _request_only(ctx, entry):
                done.suppressed += 1
            else:
                done.contained += 1
            continue
        contact_id = uuid.UUID(entry.contact_id)
        if await db.fetchval(_ERASED, ctx.tenant_id, str(contact_id)):
            done.contained += 1
        elif await contacts.find_contact(ctx, contact_id) is not None:
            await erase_contact(ctx, contact_id, suppress=entry.suppress, journal=False)
            done.erased += 1
        elif entry.suppress and await _suppress(ctx, entry):
            done.suppressed += 1
        else:
            done.contained += 1
    if done.erased or done.suppressed:
        await audit.record(ctx, "erasures.reapplied", "tenant", ctx.tenant_id,
                           {"erased": done.erased, "suppressed": done.suppressed})
    return done
