"""Online backup and restore of the embedded SQLite database, with SQLite's own
backup API (`sqlite3.Connection.backup`), while the server runs.

Backup: the whole database is copied in one step under one read transaction,
so the copy is one consistent snapshot; in WAL mode a reader never blocks the
server's writers. The copy is written beside the target under a temporary
name, checked (`PRAGMA integrity_check`), fsync'd and renamed into place, so
PATH is either the previous file or a whole backup, never half of one.

Restore: the backup is checked first (integrity, and that it is an Optinbase
database), then copied page by page into the live file by the same API — the
server keeps running; its writers wait on SQLite's lock during the copy (the
busy timeout) and its next queries read the restored data. The WAL is then
checkpointed and truncated, so no page of the replaced data lingers in it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 60


class BackupError(Exception):
    """A one-line reason the backup or restore did not happen."""


def database_path(database_url: str) -> Path:
    if not database_url.startswith("sqlite:///"):
        raise BackupError("`optinbase backup` and `restore` work on the embedded SQLite"
                          " database; on PostgreSQL use pg_dump / pg_basebackup (README,"
                          " Operating Optinbase)")
    return Path(database_url[len("sqlite:///"):]).absolute()


def _check(connection: sqlite3.Connection, what: str) -> None:
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a SQLite database ({exc})") from None
    if result != "ok":
        raise BackupError(f"{what} fails SQLite's integrity check: {result}")
    if not {"migration", "tenant", "contact"} <= tables:
        raise BackupError(f"{what} is not an Optinbase database")


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def backup(database_url: str, target: Path) -> int:
    """Copies the live database to `target`; returns its size in bytes."""
    source_path = database_path(database_url)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    target = target.absolute()
    if target == source_path:
        raise BackupError("the backup cannot be the database itself")
    if target.is_dir():
        raise BackupError(f"{target} is a directory: name the backup file")
    temporary = target.with_name(f".{target.name}.partial")
    temporary.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)  # pages=-1: all at once, one snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check(copy, "the copy")
        finally:
            copy.close()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    _fsync(temporary)
    os.replace(temporary, target)
    _fsync(target.parent)
    return target.stat().st_size


def restore(database_url: str, source: Path) -> int:
    """Copies the backup `source` over the live database; returns its size."""
    target_path = database_path(database_url)
    source = source.absolute()
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    if source == target_path:
        raise BackupError("the backup cannot be the database itself")
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check(backup_db, str(source))
        live = sqlite3.connect(target_path, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            backup_db.backup(live)
            live.execute("PRAGMA journal_mode=WAL")
            live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            live.close()
    finally:
        backup_db.close()
    return source.stat().st_size
