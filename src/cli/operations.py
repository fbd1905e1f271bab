"""Operating Optinbase: `backup`, `restore`, `erasures reapply`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from cli.runtime import CommandError, as_owner, run
from consent import reapply
from optinbase import schema, sqlite_backup
from optinbase.settings import get_settings
from tenants import envelope


def _sqlite(fn: Callable[[str, Path], int], path: str) -> int:
    """`sqlite_backup.backup` or `.restore` on the configured database; its
    refusal is the command's one-line reason."""
    try:
        return fn(get_settings().database_url, Path(path))
    except sqlite_backup.BackupError as exc:
        raise CommandError(str(exc)) from None


def cmd_backup(args: argparse.Namespace) -> None:
    size = _sqlite(sqlite_backup.backup, args.path)
    print(f"backed up to {Path(args.path).absolute()} ({size} bytes)")


async def _reapply_all() -> reapply.Reapplied:
    """Every tenant's journal, each in its tenant's transaction; a failure
    stops the run (the operator must see it) with that tenant rolled back."""
    total = reapply.Reapplied()
    for done in await envelope.each_tenant("erasures.reapply",
                                           lambda ctx, record: reapply.reapply(ctx), strict=True):
        for field in done.__struct_fields__:
            setattr(total, field, getattr(total, field) + getattr(done, field))
    return total


def _report(done: reapply.Reapplied) -> str:
    return (f"{done.journalled} journalled erasures: {done.contained} already in the data,"
            f" {done.erased} contacts erased again, {done.suppressed} suppressions put back")


async def _after_restore() -> reapply.Reapplied:
    """A backup older than the code lacks its newest migrations: they are
    applied first, so the erasures re-run on the schema the code expects."""
    missing = await schema.pending()
    if missing:
        await schema.migrate()
        print(f"{len(missing)} migration(s) applied to the restored database")
    return await _reapply_all()


def cmd_restore(args: argparse.Namespace) -> None:
    size = _sqlite(sqlite_backup.restore, args.path)
    print(f"restored {Path(args.path).absolute()} ({size} bytes)")
    as_owner()
    print(_report(run(_after_restore)))


async def _migrated_then_reapply() -> reapply.Reapplied:
    missing = await schema.pending()
    if missing:
        raise CommandError(f"the database is not migrated ({len(missing)} migration(s) missing):"
                           " run `optinbase migrate` first")
    return await _reapply_all()


def cmd_reapply(args: argparse.Namespace) -> None:
    as_owner()
    print(_report(run(_migrated_then_reapply)))


def add_commands(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="online backup of the embedded SQLite database")
    backup.add_argument("path")
    backup.set_defaults(fn=cmd_backup)

    restore = sub.add_parser("restore", help="restore a backup (SQLite, online), then"
                                             " re-apply journalled erasures")
    restore.add_argument("path")
    restore.set_defaults(fn=cmd_restore)

    erasures = sub.add_parser("erasures", help="the erasure journal").add_subparsers(
        dest="erasures_command", required=True)
    erasures.add_parser(
        "reapply", help="re-run journalled erasures the database does not contain (after any"
                        " restore)").set_defaults(fn=cmd_reapply)
