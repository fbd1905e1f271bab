"""`ledger verify`: the chain and every published checkpoint, checked together.

A hash chain alone cannot see its own end cut off: delete the last events,
rewind `ledger_head`, and what remains still links. The checkpoints signed
outside the database can: each says which hash event `seq` had. So every
line of the tenant's checkpoint log must be a checkpoint of this tenant,
signed by this server's key, whose `seq` the chain still reaches with the
same hash. The first line that fails is named (line, seq, time).

Order matters: the log is read *before* the snapshot of the database is
taken. A checkpoint is logged only after its head committed, so every line
read then signs a head the snapshot holds; read after, a checkpoint of a
grant that committed meanwhile would look like a truncation.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional

import msgspec

from consent.ledger import chain, checkpoint_log
from consent.ledger.chain import BrokenCheckpoint, VerifyResult
from consent.ledger.signing import signature_problem
from optinbase import db
from optinbase.context import TenantContext
from tenants import envelope


class Verdict(msgspec.Struct):
    result: VerifyResult
    log: Path  # where the checkpoints were read (for the operator, never in API answers)


def _judge(line: checkpoint_log.Line, tenant_id: uuid.UUID, walk: chain.Walk
           ) -> Optional[BrokenCheckpoint]:
    checkpoint = line.checkpoint
    if checkpoint is None:
        return BrokenCheckpoint(line=line.number, seq=None, hash=None, at=None,
                                reason="the line is not a checkpoint")

    def broken(reason: str) -> BrokenCheckpoint:
        return BrokenCheckpoint(line=line.number, seq=checkpoint.seq, hash=checkpoint.hash,
                                at=checkpoint.at, reason=reason)

    problem = signature_problem(checkpoint, tenant_id)
    if problem:
        return broken(problem)
    seq = checkpoint.seq
    if seq > walk.last_seq:
        return broken(f"it signed event {seq} but the ledger ends at event {walk.last_seq}:"
                      " events were removed after it was published (truncation or rewind)")
    stored = walk.hashes.get(seq)
    if stored is None:
        return broken(f"event {seq}, which it signed, is missing from the ledger")
    if stored != checkpoint.hash:
        return broken(f"event {seq} no longer has the hash it signed: the history up to"
                      f" event {seq} was rewritten after it was published")
    return None


async def verify(ctx: TenantContext) -> Verdict:
    """Opens its own snapshot after reading the log, so it must not run
    inside a transaction (it would read the log after that one's snapshot)."""
    if db.in_transaction():
        raise RuntimeError("ledger verification opens its own snapshot: call it outside a transaction")
    tenant_id = ctx.tenant_id
    path, lines = await checkpoint_log.read_all(tenant_id)
    wanted = frozenset(line.checkpoint.seq for line in lines if line.checkpoint is not None)
    async with envelope.tenant(ctx, write=False, snapshot=True):
        walk = await chain.walk(tenant_id, wanted)
    result = walk.result
    first_broken = next(
        (b for b in (_judge(line, tenant_id, walk) for line in lines) if b is not None), None)
    if first_broken is not None:
        where = f"checkpoint seq {first_broken.seq} of {first_broken.at}" if (
            first_broken.seq is not None) else "a checkpoint"
        result = msgspec.structs.replace(
            result, ok=False, first_broken_checkpoint=first_broken,
            reason=result.reason or f"{where} (log line {first_broken.line}):"
                                    f" {first_broken.reason}")
    return Verdict(msgspec.structs.replace(result, checkpoints=len(lines)), path)
