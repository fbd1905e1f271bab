"""Durable appends to a line-per-record file kept outside the database (the
erasure journal): a line is either wholly there after a crash or recognisably
torn, and several processes (server, workers, the CLI) may append at once.

An exclusive `flock` serialises writers, so lines never interleave; every
append is fsync'd before it returns, and the directory is fsync'd when the file
is created (a new name must survive a crash too). A torn last line (a crash
mid-write) is followed by a newline before the next record, so it stays a line
of its own that readers skip.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Iterator


def append_line(path: Path, data: bytes) -> None:
    """Appends `data` (one line, no newline of its own) and fsyncs it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        size = os.fstat(descriptor).st_size
        data = data + b"\n"
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            data = b"\n" + data
        while data:
            data = data[os.write(descriptor, data):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)  # releases the lock
    if created:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


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
