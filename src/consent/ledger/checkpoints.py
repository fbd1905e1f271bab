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

And one rule keeps the log from vouching for a forgery: a head that
contradicts the log's last checkpoint (behind it, or no longer holding the
hash it signed at its seq: a truncation, rewind or rewrite by someone with
write access to the database) is never signed. Publishing refuses
(`CheckpointRefused`), the worker logs it as an error at its next turn — within
a minute of the tampering, with no one running `ledger verify` — and the age of
the last checkpoint (a metric) keeps growing until an operator looks.
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
from optinbase.errors import Conflict, invalid_field
from optinbase.context import TenantContext
from tenants import envelope

EVENT = "ledger.checkpoint"


class CheckpointRefused(Conflict):
    """The chain contradicts a checkpoint already published: signing its head
    would vouch for a tampered ledger."""

    slug = "ledger-contradicts-checkpoint"
    title = "Ledger contradicts a published checkpoint"


async def publish(ctx: TenantContext, *, only_if_moved: bool = False) -> Optional[Checkpoint]:
    """Signs the chain head as the caller's tenant transaction sees it and
    publishes it (see the module's rules). Returns the checkpoint, or None for
    an empty chain (nothing to commit to) or, with `only_if_moved` in a
    read-only transaction, a head the log's last line already signed.
    Raises CheckpointRefused for a head that contradicts the log."""
    tenant_id = ctx.tenant_id
    db.require_tenant(tenant_id)
    # The log first: every head it holds had committed before it was logged,
    # so the head read next is at or past the log's last line unless the
    # chain went backwards.
    latest = await checkpoint_log.latest(tenant_id)
    seq, head_hash = await chain.head(tenant_id)
    if latest is not None and signature_problem(latest, tenant_id) is None:
        problem = await _contradiction(tenant_id, latest, seq, head_hash)
        if problem is not None:
            raise CheckpointRefused(
                f"not signing the chain head (seq {seq}): {problem}; run `optinbase ledger"
                f" verify`", checkpoint_seq=latest.seq, checkpoint_at=latest.at)
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


async def _contradiction(tenant_id: uuid.UUID, latest: Checkpoint, seq: int,
                         head_hash: str) -> Optional[str]:
    """Why the chain (head `seq`/`head_hash`) contradicts the published
    `latest` checkpoint, or None when it extends it."""
    signed = f"checkpoint seq {latest.seq} published at {latest.at}"
    if seq < latest.seq:
        return f"the chain ends before {signed} (truncated or rewound)"
    stored = head_hash if seq == latest.seq else await chain.event_hash_at(tenant_id, latest.seq)
    if stored != latest.hash:
        return f"event seq {latest.seq} no longer has the hash {signed} signed (rewritten)"
    return None


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
    return await publish_unless_refused(ctx)


async def publish_unless_refused(ctx: TenantContext) -> Optional[Checkpoint]:
    """`publish` for a receipt: None where the chain contradicts the log (the
    receipt still names its event's hash; the log vouches for nothing)."""
    try:
        return await publish(ctx)
    except CheckpointRefused:
        return None


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


