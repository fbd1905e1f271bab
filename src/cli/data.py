"""What a tenant's data needs from an operator: `ledger`, `retention`, `import`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cli.runtime import CommandError, as_owner, run
from consent.imports import jobs, parse
from consent.ledger import checkpoint_log, checkpoints, verification
from optinbase.context import TenantContext
from tenants import envelope, repository
from workers import housekeeping


def cmd_ledger_verify(args: argparse.Namespace) -> None:
    """The chain and every checkpoint of the tenant's log; exits 1 naming the
    first broken event or checkpoint."""

    async def verify() -> verification.Verdict:
        ctx, _ = await envelope.operator(args.tenant, "ledger verify")
        return await verification.verify(ctx)

    verdict = run(verify)
    result = verdict.result
    if result.ok:
        print(f"ledger ok: {result.events} events verified,"
              f" {result.checkpoints} checkpoints checked ({verdict.log})")
        if result.events and not result.checkpoints:
            # The chain alone cannot show events cut from its end with the head
            # rewound to match: only a checkpoint published before can.
            print(f"warning: no checkpoint in {verdict.log}: events removed from the end of"
                  " the chain (its head rewound to match) would not show. The server and"
                  " `optinbase worker` publish one each minute the chain moved; `optinbase"
                  f" ledger checkpoint --tenant {args.tenant}` publishes one now.",
                  file=sys.stderr)
        return
    broken = result.first_broken_checkpoint
    if result.first_broken_event is None and broken is not None:
        raise CommandError(
            f"ledger contradicts checkpoint seq {broken.seq} signed at {broken.at}"
            f" (line {broken.line} of {verdict.log}): {broken.reason};"
            f" {result.events} events read"
        )
    also = (f"; checkpoint at line {broken.line} of {verdict.log} fails too: {broken.reason}"
            if broken is not None else "")
    raise CommandError(
        f"ledger broken at event {result.first_broken_event} ({result.reason});"
        f" {result.events} events read{also}"
    )


def cmd_ledger_checkpoint(args: argparse.Namespace) -> None:
    """Signs and publishes each tenant's chain head now (log, webhook)."""

    async def publish() -> list[str]:
        if args.tenant:
            tenants = [(await envelope.operator(args.tenant, "ledger checkpoint"))[1]]
        else:
            tenants = await repository.all_tenants()
        lines, refused = [], []
        for tenant in tenants:
            ctx = TenantContext.for_operator(tenant, "ledger checkpoint")
            try:
                checkpoint = await checkpoints.publish_now(ctx)
            except checkpoints.CheckpointRefused as exc:  # the other tenants still get theirs
                refused.append(f"{tenant.slug}: {exc.detail}")
                continue
            lines.append(f"{tenant.slug}: empty ledger, nothing to sign" if checkpoint is None
                         else f"{tenant.slug}: checkpoint seq {checkpoint.seq}"
                              f" hash {checkpoint.hash} at {checkpoint.at}")
        return lines, refused

    lines, refused = run(publish)
    for line in lines:
        print(line)
    print(f"checkpoint log: {checkpoint_log.directory()}")
    if refused:
        raise CommandError("; ".join(refused))


def cmd_retention(args: argparse.Namespace) -> None:
    """Lists (--dry-run) or does what retention requires now: re-permission
    e-mails, erasures of the silent, purges of never-confirmed sign-ups,
    expired packages, lapsed requests. The worker runs the same every cycle."""

    async def apply() -> list[str]:
        if args.tenant and await repository.tenant_by_slug(args.tenant) is None:
            raise CommandError(f"no tenant {args.tenant!r}")
        return await housekeeping.retention_due(dt.datetime.now(dt.timezone.utc),
                                                only=args.tenant, dry_run=args.dry_run,
                                                strict=True)

    lines = run(apply)
    for line in lines:
        print(line)
    if not lines:
        print("nothing is due" if args.dry_run else "nothing was due")


def cmd_import(args: argparse.Namespace) -> None:
    as_owner()
    path = Path(args.file)
    fmt = args.format or {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}.get(
        path.suffix.lower()
    )
    if fmt is None:
        raise CommandError("cannot tell the format from the file name: give --format csv|ndjson")
    body = path.read_bytes()
    source = parse.scan(body, fmt)  # a malformed file stops here

    def progress(done: int, total: int) -> None:
        print(f"\r{done:,}/{total:,} rows", end="", file=sys.stderr, flush=True)

    async def load() -> tuple[Any, Any, bool]:
        ctx, _ = await envelope.operator(args.tenant, "import")
        # Chunk by chunk, each committed: interrupted, the same command resumes.
        return await jobs.import_file(ctx, source, jobs.digest(body), progress)

    job_id, report, resumed = run(load)
    print(file=sys.stderr)
    for error in report.errors[:20]:
        print(f"line {error['line']}, {error['column'] or 'row'}: {error['reason']}", file=sys.stderr)
    print(f"import {job_id} {'resumed and ' if resumed else ''}done: {report.total:,} rows,"
          f" {report.created:,} created, {report.updated:,} updated, {report.rejected:,} rejected")


def add_commands(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="the consent ledger").add_subparsers(
        dest="action", required=True
    )
    verify = ledger.add_parser("verify")
    verify.add_argument("--tenant", required=True)
    verify.set_defaults(fn=cmd_ledger_verify)
    checkpoint = ledger.add_parser(
        "checkpoint", help="sign and publish each tenant's chain head now (outside the database)")
    checkpoint.add_argument("--tenant", help="only this tenant (slug)")
    checkpoint.set_defaults(fn=cmd_ledger_checkpoint)

    retain = sub.add_parser("retention", help="re-permission, purge and expire what is due")
    retain.add_argument("--dry-run", action="store_true",
                        help="list what would be done (tenant, action, id, why); change nothing")
    retain.add_argument("--tenant", help="only this tenant (slug)")
    retain.set_defaults(fn=cmd_retention)

    imp = sub.add_parser("import", help="import contacts and consents from CSV or NDJSON")
    imp.add_argument("file")
    imp.add_argument("--tenant", required=True)
    imp.add_argument("--format", choices=["csv", "ndjson"])
    imp.set_defaults(fn=cmd_import)
