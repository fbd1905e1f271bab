"""Durable appends to a line-per-record file kept outside the database (the
erasure journal): a line is either wholly there after a crash or recognisably
torn, and several processes (server, workers, the CLI) may append at once.

An exclusive `flock` serialises writers, so lines never interleave; every
append is fsync'd before it returns, and the directory is fsync'd when the file
is created (a new name must survive a crash too). A torn last line (a crash
mid-write) is followed by a newline before the next record, so it stays a line
of its own that readers skip. Used by the erasure journal and the ledger's
checkpoint log.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator, Optional


def append_line(path: Path, data: bytes, *, mode: int = 0o600,
                unless: Optional[Callable[[int, int], bool]] = None) -> bool:
    """Appends `data` (one line, no newline of its own) and fsyncs it; returns
    whether it did. `unless(descriptor, size)`, asked under the lock, may
    decline the append (the ledger's "has the chain moved since the last line?")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        size = os.fstat(descriptor).st_size
        if unless is not None and unless(descriptor, size):
            return False
        data = data + b"\n"
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line (crash mid-write) stays a line of its own
        while data:
            data = data[os.write(descriptor, data):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)  # releases the lock
    if created:  # the new file's name must survive a crash too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return True


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's non-empty lines, without their line ends (none if absent)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line
