"""What erasure does to data-subject requests: only the keyed hash of the
person's identifier stays (it recognises them if they ask again). Address,
note, requested changes, staff's free text, contact link and package go, and
so do e-mails to that address (waiting or kept by the outbox) and stored
answers to retried API calls that repeat it. The person's other open requests
close: nothing is left to give, change or restrict, and nobody could be written
to about them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Iterable, NamedTuple, Optional

from consent.ledger import notify
from consent.requests.records import OPEN_SQL, record_event
from optinbase import db
from optinbase.context import TenantContext

ERASED_OUTCOME = ("The person's data was erased before this request was carried out:"
                  " no personal data about them is held any more.")

# A person's requests: linked to the contact, or asked with one of its
# identifiers (their keyed hashes; "" for a missing one matches nothing).
_PERSON = "(contact_id = {} OR subject_hash IN ({}, {}))"
_BLANKED = ("email = NULL, phone = NULL, note = '', changes = {}, extension_reason = '',"
            " outcome = '', contact_id = NULL, package = NULL")
_BLANK = f"UPDATE data_subject_request SET {_BLANKED} WHERE tenant_id = {{}} AND "


async def forget_messages(ctx: TenantContext, addresses: Iterable[Optional[str]],
                          contact_id: Optional[uuid.UUID] = None) -> None:
    """E-mails to these addresses or about this contact (queued or kept by the
    outbox), and stored answers that repeat them (a replay would hand them back):
    one statement each."""
    addresses = [a for a in addresses if a]
    needles = [*addresses, *([str(contact_id)] if contact_id else [])]
    if not needles:
        return
    about = ["recipient = {}"] * len(addresses) + (["contact_id = {}"] if contact_id else [])
    await db.execute(f"DELETE FROM outbox_message WHERE tenant_id = {{}} AND ({' OR '.join(about)})",
                     ctx.tenant_id, *addresses, *([contact_id] if contact_id else []))
    await db.execute(
        "DELETE FROM idempotency_record WHERE tenant_id = {} AND ("
        + " OR ".join(["body LIKE {}"] * len(needles)) + ")",
        ctx.tenant_id, *(f"%{needle}%" for needle in needles))


async def scrub_identity(ctx: TenantContext, subject_hash: str,
                         addresses: Iterable[Optional[str]] = ()) -> None:
    await db.execute(_BLANK + "subject_hash = {}", "{}", ctx.tenant_id, subject_hash)
    await forget_messages(ctx, addresses)


class OpenRequest(NamedTuple):
    id: uuid.UUID
    kind: str
    status: str


async def open_requests(ctx: TenantContext, contact_id: uuid.UUID,
                        hashes: tuple[Optional[str], Optional[str]]) -> list[OpenRequest]:
    """The person's open requests, found as scrub_contact_requests finds them."""
    rows = await db.fetch(
        f"SELECT id, kind, status FROM data_subject_request WHERE tenant_id = {{}}"
        f" AND status IN {OPEN_SQL} AND {_PERSON} ORDER BY id",
        ctx.tenant_id, contact_id, hashes[0] or "", hashes[1] or "")
    return [OpenRequest(r["id"], r["kind"], r["status"]) for r in rows]


async def lapse(ctx: TenantContext, request_id: uuid.UUID, now: dt.datetime, reason: str) -> None:
    """An unverified request ends: it keeps only its hash, kind, dates and trail."""
    await db.execute(
        f"UPDATE data_subject_request SET {_BLANKED}, status = 'lapsed', closed_at = {{}},"
        " updated_at = {} WHERE tenant_id = {} AND id = {}", "{}", now, now, ctx.tenant_id, request_id)
    await record_event(ctx, request_id, "lapsed", {"reason": reason})


async def close_after_erasure(ctx: TenantContext, requests: Iterable[OpenRequest]) -> None:
    """Verified requests are completed (the erasure answered them: there is
    nothing left), unverified ones lapse, each with its trail event."""
    now = dt.datetime.now(dt.timezone.utc)
    for request in requests:
        if request.status != "verified":
            await lapse(ctx, request.id, now, "the person's data was erased")
            continue
        await db.execute(
            "UPDATE data_subject_request SET status = 'completed', outcome = {}, closed_at = {},"
            " updated_at = {} WHERE tenant_id = {} AND id = {}",
            ERASED_OUTCOME, now, now, ctx.tenant_id, request.id)
        await record_event(ctx, request.id, "completed", {"by": "erasure"})
        await notify.request_completed(ctx, request.id, request.kind, "completed")


async def scrub_contact_requests(ctx: TenantContext, contact_id: uuid.UUID,
                                 hashes: tuple[Optional[str], Optional[str]]) -> None:
    """Every request by this contact, found by its link or its identifiers' hashes."""
    await db.execute(_BLANK + _PERSON, "{}", ctx.tenant_id, contact_id,
                     hashes[0] or "", hashes[1] or "")
