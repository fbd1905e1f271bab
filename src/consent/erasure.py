"""Erasure (GDPR Art. 17): the person leaves no personal data behind, yet the
ledger still verifies and they are not imported or exported again.

In one tenant transaction: suppression hashes (keyed, reason `erasure`) for the
e-mail and phone; ledger events keep their digests but lose contact id, IP,
user agent, salt and source (the only update the ledger accepts; source only
on format-2 events, consent.ledger.chain); consent states, queued and sent
e-mails, and idempotency replays naming the person go; segment rules naming
the person's e-mail, phone or external id are blanked (consent.segments.scrub);
phone proof
(agent, recording reference) and calls made go; the contact row goes. Audit details and import reports never held personal data.
The person's data-subject requests keep only the keyed hash of their identifier,
and their other open requests close (completed, or lapsed if never verified).
On SQLite freed pages are zeroed (secure_delete) and the WAL is truncated
after the commit, so the file bytes no longer hold the values either.

Every erasure is also written to the erasure journal outside the database
(`consent.erasure_journal`: keyed hashes and ids only), so that restoring an
older backup cannot bring the person back (`consent.reapply`).
"""

from __future__ import annotations

import uuid
from typing import Optional

from consent import contacts, erasure_journal, suppression
from consent.ledger import notify
from consent.requests.scrub import (
    close_after_erasure,
    forget_messages,
    open_requests,
    scrub_contact_requests,
)
from consent.schemas import SuppressionIn
from consent.segments.scrub import forget_in_segments
from consent.suppression import add as add_suppression
from messaging.inbound import handling as inbound_handling
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import NotFound

# `source` is free text (a page URL, a campaign, whatever a client wrote):
# personal data, blanked where the chain digests it (format 2, chain.py).
_BLANK_LEDGER = (
    "UPDATE consent_event SET contact_id = NULL, ip = NULL, user_agent = NULL, pii_salt = NULL,"
    " source = CASE WHEN chain_format >= 2 THEN NULL ELSE source END"
    " WHERE tenant_id = {} AND contact_id = {}"
)

_FORGET_PHONE_PROOF = (
    "DELETE FROM phone_proof WHERE tenant_id = {} AND event_id IN (SELECT id FROM consent_event"
    " WHERE tenant_id = {} AND contact_id = {})"
)


async def erase_contact(ctx: TenantContext, contact_id: uuid.UUID, *, suppress: bool = True,
                        request_id: Optional[uuid.UUID] = None, journal: bool = True) -> None:
    """Runs inside the caller's tenant transaction. `suppress=False` is for
    retention: a person purged for inactivity did not object and may come back.
    `request_id`: the erasure request being carried out (its caller closes it).
    `journal=False`: re-applying a journalled erasure (it is there already)."""
    row = await contacts.find_contact(ctx, contact_id)
    if row is None:
        raise NotFound("contact not found")
    hashes = await suppression.contact_hashes(ctx, row["email"], row["phone"])
    if journal:
        await journal_erasure(ctx, contact_id, row["email"], row["phone"], hashes,
                              suppress=suppress)
    if not db.is_postgres():
        await db.execute("PRAGMA secure_delete = ON")
    for field in ("email", "phone"):
        if row[field] and suppress:
            await add_suppression(ctx, SuppressionIn(reason="erasure", **{field: row[field]}))
    still_open = [r for r in await open_requests(ctx, contact_id, hashes) if r.id != request_id]
    await scrub_contact_requests(ctx, contact_id, hashes)
    await close_after_erasure(ctx, still_open)
    # Phone proof names the agent and the call's recording: it goes with the person.
    await db.execute(_FORGET_PHONE_PROOF, ctx.tenant_id, ctx.tenant_id, contact_id)
    await db.execute(_BLANK_LEDGER, ctx.tenant_id, contact_id)
    await db.execute(
        "DELETE FROM consent_state WHERE tenant_id = {} AND contact_id = {}",
        ctx.tenant_id, contact_id,
    )
    await forget_messages(ctx, (row["email"], row["phone"]), contact_id)
    await inbound_handling.forget_contact(ctx, contact_id)
    await forget_in_segments(ctx, row["email"], row["phone"], row["external_id"])
    await db.execute("DELETE FROM contact WHERE tenant_id = {} AND id = {}", ctx.tenant_id,
                     contact_id)
    await audit.record(ctx, "contact.erased", "contact", contact_id, {"suppressed": suppress})
    await notify.contact_erased(ctx, contact_id)  # integrators must erase their copy too
    try:
        db.after_commit(compact_storage)
    except RuntimeError:  # an admin transaction: SQLite's next checkpoint reclaims the WAL
        pass


async def journal_erasure(ctx: TenantContext, contact_id: Optional[uuid.UUID],
                          email: Optional[str], phone: Optional[str],
                          hashes: tuple[Optional[str], Optional[str]], *, suppress: bool) -> None:
    """Journals an erasure (normalised identifiers, their suppression hashes):
    also called for an erasure request naming an address the base never held."""
    await erasure_journal.record(
        ctx.tenant_id, contact_id,
        erasure_journal.identifiers_of(ctx.tenant_id, {"email": email, "phone": phone},
                                       {"email": hashes[0], "phone": hashes[1]}),
        suppress=suppress)


async def compact_storage() -> None:
    """After the commit: SQLite keeps old page images in its WAL until a checkpoint."""
    if not db.is_postgres():
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
