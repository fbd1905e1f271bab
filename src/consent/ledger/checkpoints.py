"""Publishing signed checkpoints of a tenant's chain head outside the database:
the checkpoint log (consent.ledger.checkpoint_log), consent receipts, and the
`ledger.checkpoint` webhook.

One rule keeps every published checkpoint true: a checkpoint enters the log
only once the head it signs has committed, so the log never holds a head that
was rolled back, and a verify that reads the log before taking its snapshot
finds every logged head in it.

* In a transaction that may write (a double-opt-in confirmation mailing its
  receipt, whose own events moved the head), the webhook is queued in that
  transaction, atomic with the change, and the line is appended after commit
  (db.after_commit).
* In a read-only one (the CLI, the worker, a receipt asked for by GET) the
  head read is committed already: the line is appended at once, and the
  webhook queued after, in a transaction of its own. With `only_if_moved`
  (the worker) nothing is published when the log's last line already signed
  this head, even by another process (checkpoint_log holds a file lock).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Optional

import msgspec

from consent.ledger import chain, checkpoint_log
from consent.ledger.signing import Checkpoint, sign, signature_problem
from messaging import webhooks
from optinbase import db
from optinbase.cursors import decode_int, encode_int
from optinbase.errors import invalid_field
from optinbase.context import TenantContext
from tenants import envelope

EVENT = "ledger.checkpoint"


async def publish(ctx: TenantContext, *, only_if_moved: bool = False) -> Optional[Checkpoint]:
    """Signs the chain head as the caller's tenant transaction sees it and
    publishes it (see the module's rule). Returns the checkpoint, or None for
    an empty chain (nothing to commit to) or, with `only_if_moved` in a
    read-only transaction, a head the log's last line already signed."""
    tenant_id = ctx.tenant_id
    db.require_tenant(tenant_id)
    seq, head_hash = await chain.head(tenant_id)
    if seq == 0:
        return None
    checkpoint = sign(tenant_id, seq, head_hash, dt.datetime.now(dt.timezone.utc))
    if db.writable():
        await _announce(tenant_id, checkpoint)

        async def log() -> None:
            await checkpoint_log.append(checkpoint)

        db.after_commit(log)
        return checkpoint
    if not await checkpoint_log.append(checkpoint, only_if_moved=only_if_moved):
        return None
    if await webhooks.subscribers(tenant_id, EVENT):  # else no write transaction at all
        async def announce() -> None:
            async with envelope.tenant(ctx, write=True):
                await _announce(tenant_id, checkpoint)

        db.after_commit(announce)
    return checkpoint


async def _announce(tenant_id: uuid.UUID, checkpoint: Checkpoint) -> None:
    await webhooks.enqueue_event(tenant_id, EVENT, msgspec.structs.asdict(checkpoint))


async def publish_now(ctx: TenantContext, *, only_if_moved: bool = False
                      ) -> Optional[Checkpoint]:
    """`publish` in a read-only transaction of its own (the CLI); returns
    once the line is in the log."""
    async with envelope.tenant(ctx, write=False):
        return await publish(ctx, only_if_moved=only_if_moved)


async def covering(ctx: TenantContext, seq: int) -> Optional[Checkpoint]:
    """The checkpoint a receipt of event `seq` embeds: the newest logged one
    if it covers the event and is validly signed, else one published now."""
    latest = await checkpoint_log.latest(ctx.tenant_id)
    if latest is not None and latest.seq >= seq and signature_problem(latest, ctx.tenant_id) is None:
        return latest
    return await publish(ctx)


class CheckpointPage(msgspec.Struct, kw_only=True):
    items: list[Checkpoint]
    next_cursor: Optional[str]


async def list_page(tenant_id: uuid.UUID, limit: int, cursor: Optional[str]) -> CheckpointPage:
    """The tenant's logged checkpoints, oldest first (lines that are not its
    checkpoints are left out; `ledger verify` reports them)."""
    offset = decode_int(cursor) if cursor else 0
    items, next_offset, valid = await checkpoint_log.page(tenant_id, offset, limit)
    if not valid:
        raise invalid_field("cursor", "is not a cursor this API returned")
    return CheckpointPage(items=items,
                          next_cursor=None if next_offset is None else encode_int(next_offset))


