"""The checkpoint log: signed checkpoints appended to files outside the
database, in LEDGER_CHECKPOINT_DIR, one JSON line each, fsync'd.

One file per tenant, `<tenant id>.jsonl`: a verify reads only its tenant's
lines (one file for all would make every tenant's verify read every tenant's
checkpoints, a line per tenant per minute); a receipt's newest checkpoint is
the file's last line (read from the end); a tenant can be handed, archived or
removed with its own file; appends for different tenants never wait on one
another. Every line still names its tenant, and the tenant id is signed, so a
file copied under another tenant's name does not verify.

Appends from several processes (server, workers, the CLI) hold an exclusive
`flock` on the file while they write, so lines never interleave and the
"has the chain moved since the last line?" test and the append are one step.
Blocking file work runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

import msgspec

from consent.ledger.signing import Checkpoint
from optinbase.appendfile import append_line
from optinbase.settings import get_settings

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Checkpoint)


class Line(NamedTuple):
    number: int  # 1-based
    offset: int  # byte offset of the line's start
    text: bytes
    checkpoint: Optional[Checkpoint]  # None: the line is not a checkpoint


def directory() -> Path:
    return Path(get_settings().ledger_checkpoint_dir).absolute()


def path_for(tenant_id: uuid.UUID) -> Path:
    return directory() / f"{tenant_id}.jsonl"


def parse(text: bytes) -> Optional[Checkpoint]:
    try:
        return _DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def encode(checkpoint: Checkpoint) -> bytes:
    return _ENCODER.encode(checkpoint) + b"\n"


def _last_line(descriptor: int, size: int) -> bytes:
    """The last complete or partial line of the file, read backwards."""
    end = size
    while end > 0 and os.pread(descriptor, 1, end - 1) == b"\n":
        end -= 1
    start, chunk = end, 4096
    while start > 0:
        begin = max(0, start - chunk)
        piece = os.pread(descriptor, start - begin, begin)
        cut = piece.rfind(b"\n")
        if cut >= 0:
            start = begin + cut + 1
            break
        start = begin
    return os.pread(descriptor, end - start, start) if end > start else b""


def _append(path: Path, checkpoint: Checkpoint, only_if_moved: bool) -> bool:
    def same_head(descriptor: int, size: int) -> bool:
        if not (only_if_moved and size):
            return False
        last = parse(_last_line(descriptor, size))
        return last is not None and (last.seq, last.hash) == (checkpoint.seq, checkpoint.hash)

    return append_line(path, _ENCODER.encode(checkpoint), mode=0o644, unless=same_head)


async def append(checkpoint: Checkpoint, *, only_if_moved: bool = False) -> bool:
    """Appends one line and fsyncs it; with `only_if_moved`, not when the last
    line already signed this same head. Returns whether a line was written."""
    path = path_for(uuid.UUID(checkpoint.tenant_id))
    return await asyncio.to_thread(_append, path, checkpoint, only_if_moved)


def _latest(path: Path) -> Optional[Checkpoint]:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return parse(_last_line(descriptor, os.fstat(descriptor).st_size))
    finally:
        os.close(descriptor)


async def latest(tenant_id: uuid.UUID) -> Optional[Checkpoint]:
    """The tenant's newest checkpoint (its log's last line), if readable."""
    return await asyncio.to_thread(_latest, path_for(tenant_id))


def lines(path: Path, offset: int = 0) -> Iterator[Line]:
    """The log's lines from byte `offset` (a line start), numbered from 1 at
    offset 0. Empty lines are skipped."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        number = 0
        for text in handle:
            number += 1
            start, offset = offset, offset + len(text)
            text = text.rstrip(b"\r\n")
            if text.strip():
                yield Line(number, start, text, parse(text))


def _read(path: Path) -> list[Line]:
    return list(lines(path))


async def read_all(tenant_id: uuid.UUID) -> tuple[Path, list[Line]]:
    path = path_for(tenant_id)
    return path, await asyncio.to_thread(_read, path)


def _page(path: Path, tenant: str, offset: int, limit: int
          ) -> tuple[list[Checkpoint], Optional[int], bool]:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if offset < 0 or offset > size:
        return [], None, False
    if offset:
        with open(path, "rb") as handle:
            handle.seek(offset - 1)
            if handle.read(1) != b"\n":
                return [], None, False
    items: list[Checkpoint] = []
    for line in lines(path, offset):
        if len(items) == limit:
            return items, line.offset, True
        if line.checkpoint is not None and line.checkpoint.tenant_id == tenant:
            items.append(line.checkpoint)
    return items, None, True


async def page(tenant_id: uuid.UUID, offset: int, limit: int
               ) -> tuple[list[Checkpoint], Optional[int], bool]:
    """Up to `limit` of the tenant's checkpoints from byte `offset`, oldest
    first (a line naming another tenant is never shown), the offset of the
    next page (None at the end), and whether `offset` was a line start of this
    log (False: not a cursor this log gave)."""
    return await asyncio.to_thread(_page, path_for(tenant_id), str(tenant_id), offset, limit)
