"""What erasure does to data-subject requests: only the keyed hash of the
person's identifier stays (it recognises them if they ask again). Address,
note, requested changes, staff's free text, contact link and package go, and
so do e-mails to that address (waiting or kept by the outbox) and stored
answers to retried API calls that repeat it."""

from __future__ import annotations

import uuid
from typing import Iterable, Optional

from optinbase import db
from optinbase.context import TenantContext

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


async def scrub_contact_requests(ctx: TenantContext, contact_id: uuid.UUID,
                                 hashes: Iterable[Optional[str]]) -> None:
    """Every request by this contact, found by its link or its identifiers' hashes."""
    for subject_hash in filter(None, hashes):
        await db.execute(_BLANK + "subject_hash = {}", "{}", ctx.tenant_id, subject_hash)
    await db.execute(_BLANK + "contact_id = {}", "{}", ctx.tenant_id, contact_id)
