"""Reading and pruning the suppression list (`GET`/`DELETE /v1/suppressions`, the
admin's suppression forms).

Entries are shown by their keyed hash only: the list outlives erasure, so it
must never become a way to read an address back. Taking someone off the list
lifts a legal block (an objection, a complaint, an erasure's "do not re-import"),
so it needs a reason in words and leaves an audit event carrying that reason
and what was removed; a person who is not listed answers 404, like an unknown
object, so a removal never silently does nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from consent import changes
from consent.schemas import SuppressionEntryOut, SuppressionRemoveIn
from consent.suppression import digest_of
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import NotFound, invalid_field

_COLUMNS = "id, kind, identifier_hash, channel, reason, created_at"


def _out(row: Any) -> SuppressionEntryOut:
    return SuppressionEntryOut(
        id=row["id"], kind=row["kind"], identifier_hash=row["identifier_hash"],
        channel=row["channel"], reason=row["reason"], created_at=row["created_at"],
    )


async def list_entries(ctx: TenantContext, limit: int, cursor: Optional[str]) -> Page:
    """The tenant's list by id, as /v1/contacts pages (the cursor is the last id)."""
    db.require_tenant(ctx.tenant_id)
    where, args = "tenant_id = {}", [ctx.tenant_id]
    if cursor:
        where += " AND id > {}"
        args.append(cursors.decode_uuid(cursor))
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM suppression WHERE {where} ORDER BY id LIMIT {{}}",
        *args, limit + 1,
    )
    return cursors.id_page(rows, limit, _out)


async def entries_of(
    ctx: TenantContext, email: Optional[str], phone: Optional[str]
) -> list[SuppressionEntryOut]:
    """Every entry listing this address or phone (the admin's look-up)."""
    db.require_tenant(ctx.tenant_id)
    _, digest = await digest_of(ctx, email, phone)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM suppression WHERE tenant_id = {{}} AND identifier_hash = {{}}"
        " ORDER BY channel",
        ctx.tenant_id, digest,
    )
    return [_out(r) for r in rows]


async def remove(ctx: TenantContext, data: SuppressionRemoveIn) -> list[SuppressionEntryOut]:
    """Deletes the person's entry for `data.channel` (all their entries when no
    channel is named); returns what was removed."""
    db.require_tenant(ctx.tenant_id)
    reason = data.reason.strip()
    if not reason or "\x00" in reason:  # NUL: no PostgreSQL text or JSON can hold it
        raise invalid_field("reason", "say in words why the person comes off the list")
    _, digest = await digest_of(ctx, data.email, data.phone)
    where, args = "tenant_id = {} AND identifier_hash = {}", [ctx.tenant_id, digest]
    if data.channel is not None:
        where += " AND channel = {}"
        args.append(data.channel)
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM suppression WHERE {where}", *args)
    if not rows:
        raise NotFound("this person is not on the suppression list"
                       + (f" for {data.channel}" if data.channel else ""))
    await db.execute(f"DELETE FROM suppression WHERE {where}", *args)
    removed = [_out(r) for r in rows]
    for entry in removed:
        await audit.record(
            ctx, "suppression.removed", "suppression", entry.id,
            {"kind": entry.kind, "channel": entry.channel, "listed_for": entry.reason,
             "reason": reason},
        )
    # The change feed (consent.changes): a copy must learn the person may be
    # contacted again on that channel. Last: numbering takes the change lock.
    contact_id = await db.fetchval(
        "SELECT id FROM contact WHERE tenant_id = {} AND (email_hash = {} OR phone_hash = {})",
        ctx.tenant_id, digest, digest)
    now = dt.datetime.now(dt.timezone.utc)
    await changes.record(ctx, [changes.Change(kind="unsuppression", at=now, contact_id=contact_id,
                                              channel=e.channel, reason=e.reason)
                               for e in removed])
    return removed
