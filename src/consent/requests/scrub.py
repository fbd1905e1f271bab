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

from consent import notify
from consent.audit import db_uuid
from consent.requests.records import record_event
from optinbase import db
from optinbase.context import TenantContext

ERASED_OUTCOME = ("The person's data was erased before this request was carried out:"
                  " no personal data about them is held any more.")

_BLANK = (
    "UPDATE data_subject_request SET email = NULL, phone = NULL, note = '', changes = {},"
    " extension_reason = '', outcome = '', contact_id = NULL, package = NULL"
    " WHERE tenant_id = {} AND "
)


async def scrub_request(ctx: TenantContext, request_id: uuid.UUID) -> None:
    """One request keeps only its hash, kind, dates and trail (a lapse, or erasure)."""
    await db.execute(_BLANK + "id = {}", "{}", ctx.tenant_id, request_id)


async def forget_messages(ctx: TenantContext, addresses: Iterable[Optional[str]],
                          contact_id: Optional[uuid.UUID] = None) -> None:
    """E-mails to these addresses or about this contact (queued or kept by the
    outbox), and stored answers that repeat them (a replay would hand them back)."""
    addresses = [a for a in addresses if a]
    if contact_id is not None:
        await db.execute("DELETE FROM outbox_message WHERE tenant_id = {} AND contact_id = {}",
                         ctx.tenant_id, contact_id)
    for address in addresses:
        await db.execute("DELETE FROM outbox_message WHERE tenant_id = {} AND recipient = {}",
                         ctx.tenant_id, address)
    for needle in [*addresses, *([str(contact_id)] if contact_id else [])]:
        await db.execute("DELETE FROM idempotency_record WHERE tenant_id = {} AND body LIKE {}",
                         ctx.tenant_id, f"%{needle}%")


async def scrub_identity(ctx: TenantContext, subject_hash: str,
                         addresses: Iterable[Optional[str]] = ()) -> None:
    await db.execute(_BLANK + "subject_hash = {}", "{}", ctx.tenant_id, subject_hash)
    await forget_messages(ctx, addresses)


class OpenRequest(NamedTuple):
    id: uuid.UUID
    kind: str
    status: str


async def open_requests(ctx: TenantContext, contact_id: uuid.UUID,
                        hashes: Iterable[Optional[str]]) -> list[OpenRequest]:
    """The person's open requests, found as scrub_contact_requests finds them."""
    found: dict[uuid.UUID, OpenRequest] = {}
    select = ("SELECT id, kind, status FROM data_subject_request WHERE tenant_id = {}"
              " AND status IN ('unverified', 'verified') AND ")
    rows = [*await db.fetch(select + "contact_id = {}", ctx.tenant_id, contact_id)]
    for subject_hash in filter(None, hashes):
        rows += await db.fetch(select + "subject_hash = {}", ctx.tenant_id, subject_hash)
    for row in rows:
        found[db_uuid(row["id"])] = OpenRequest(db_uuid(row["id"]), row["kind"], row["status"])
    return list(found.values())


async def close_after_erasure(ctx: TenantContext, requests: Iterable[OpenRequest]) -> None:
    """Verified requests are completed (the erasure answered them: there is
    nothing left), unverified ones lapse, each with its trail event."""
    now = dt.datetime.now(dt.timezone.utc)
    for request in requests:
        verified = request.status == "verified"
        await db.execute(
            "UPDATE data_subject_request SET status = {}, outcome = {}, closed_at = {},"
            " updated_at = {} WHERE tenant_id = {} AND id = {}",
            "completed" if verified else "lapsed", ERASED_OUTCOME if verified else "",
            now, now, ctx.tenant_id, request.id)
        if verified:
            await record_event(ctx, request.id, "completed", {"by": "erasure"})
            await notify.request_completed(ctx, request.id, request.kind, "completed")
        else:
            await record_event(ctx, request.id, "lapsed", {"reason": "the person's data was erased"})


async def scrub_contact_requests(ctx: TenantContext, contact_id: uuid.UUID,
                                 hashes: Iterable[Optional[str]]) -> None:
    """Every request by this contact, found by its link or its identifiers' hashes."""
    for subject_hash in filter(None, hashes):
        await db.execute(_BLANK + "subject_hash = {}", "{}", ctx.tenant_id, subject_hash)
    await db.execute(_BLANK + "contact_id = {}", "{}", ctx.tenant_id, contact_id)
