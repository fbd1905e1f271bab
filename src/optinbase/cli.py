"""`optinbase` — the operator's command line. Every command exits non-zero with a
one-line reason on bad input."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from typing import Any, Callable, Coroutine
from urllib.parse import urlparse


class CommandError(Exception):
    """A one-line reason to print before exiting with status 1."""


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _as_owner() -> None:
    """Management commands (tenants, keys, staff) and migrations connect as the
    owner role (DATABASE_OWNER_URL); row-level security is forced on it too."""
    os.environ["OPTINBASE_DB_ROLE"] = "owner"


async def _with_engine(fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    from optinbase import db, process

    await db.start(max_size=2)
    process.started()
    try:
        return await fn()
    finally:
        await db.stop()


def cmd_migrate(args: argparse.Namespace) -> None:
    _as_owner()  # the application role only gets grants
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from optinbase import db
    from optinbase.settings import get_settings

    settings = get_settings()

    async def migrate() -> None:
        result = await run_forwards("all")
        if not result.success:
            raise CommandError(f"migration failed: {result.message}")
        if settings.is_postgres:
            app_role = urlparse(settings.database_url).username
            owner_role = urlparse(settings.database_owner_url).username
            if app_role and app_role != owner_role:
                await db.execute("SELECT optinbase_grant_app_role({})", app_role)
        else:
            await db.start()

    _run(migrate())
    print("migrations applied")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from optinbase.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    """Delivers the outbox until interrupted; run as many as you like."""
    import signal

    from messaging.outbox import OutboxWorker
    from optinbase.background import run_periodic
    from optinbase.settings import get_settings

    settings = get_settings()

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = OutboxWorker(settings.smtp_url, settings.mail_from, poll_seconds=args.poll)
        if args.once:
            print(f"{await worker.run_once()} messages delivered")
            return
        print("outbox worker running (Ctrl-C stops it)", file=sys.stderr)
        await asyncio.gather(worker.run_forever(stop), run_periodic(stop))

    _run(_with_engine(work))


def cmd_tenants_create(args: argparse.Namespace) -> None:
    _as_owner()
    from tenants import service

    record = _run(
        _with_engine(
            lambda: service.create_tenant(
                args.slug, args.name, agency_slug=args.agency, legal_name=args.legal_name or "",
                dpo_email=args.dpo_email or "", country=(args.country or "").upper(),
            )
        )
    )
    print(f"tenant {record.slug} created ({record.id})")


def cmd_agencies_create(args: argparse.Namespace) -> None:
    _as_owner()
    from tenants import service

    agency_id = _run(_with_engine(lambda: service.create_agency(args.slug, args.name)))
    print(f"agency {args.slug} created ({agency_id})")


def cmd_keys_create(args: argparse.Namespace) -> None:
    _as_owner()
    from optinbase import db
    from optinbase.errors import NotFound
    from tenants import keys, repository

    if bool(args.tenant) == bool(args.agency):
        raise CommandError("give exactly one of --tenant SLUG or --agency SLUG")
    expires_at = None
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive")
        expires_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=args.expires_in_days)

    async def create() -> str:
        tenant_id = agency_id = None
        if args.tenant:
            tenant = await repository.tenant_by_slug(args.tenant)
            if tenant is None:
                raise NotFound(f"no tenant {args.tenant!r}")
            tenant_id = tenant.id
        else:
            agency = await repository.agency_by_slug(args.agency)
            if agency is None:
                raise NotFound(f"no agency {args.agency!r}")
            agency_id = agency["id"]
        async with db.tenant_transaction(tenant_id, agency_id=agency_id):
            return await keys.create_key(
                tenant_id=tenant_id, agency_id=agency_id, name=args.name or "",
                scopes=args.scope, expires_at=expires_at,
            )

    full_key = _run(_with_engine(create))
    print("API key created. It is shown only this once; store it now.", file=sys.stderr)
    print(full_key)


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    _as_owner()
    from tenants import keys

    key_id = args.key_id
    if key_id.startswith("obk_"):  # accept the full key too
        key_id = key_id.split("_")[1]
    _run(_with_engine(lambda: keys.revoke_key(key_id)))
    print(f"key {key_id} revoked")


def cmd_staff_create(args: argparse.Namespace) -> None:
    _as_owner()
    from tenants import service

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
    user_id = _run(
        _with_engine(
            lambda: service.create_staff(
                args.email, password, tenant_slug=args.tenant, agency_slug=args.agency,
                superuser=args.superuser, role=args.role,
            )
        )
    )
    print(f"staff user {args.email} created ({user_id})")


def cmd_ledger_verify(args: argparse.Namespace) -> None:
    from consent import ledger
    from optinbase import db
    from optinbase.errors import NotFound
    from tenants import repository

    async def verify() -> ledger.VerifyResult:
        tenant = await repository.tenant_by_slug(args.tenant)
        if tenant is None:
            raise NotFound(f"no tenant {args.tenant!r}")
        async with db.tenant_transaction(tenant.id, write=False):
            return await ledger.verify(tenant.id)

    result = _run(_with_engine(verify))
    if result.ok:
        print(f"ledger ok: {result.events} events verified")
        return
    raise CommandError(
        f"ledger broken at event {result.first_broken_event} ({result.reason});"
        f" {result.events} events read"
    )


def cmd_retention(args: argparse.Namespace) -> None:
    """Lists (--dry-run) or does what retention requires now: re-permission
    e-mails, erasures of the silent, purges of never-confirmed sign-ups,
    expired packages, lapsed requests. The worker runs the same every cycle."""
    from consent import retention
    from tenants import repository

    async def run() -> list[str]:
        if args.tenant and await repository.tenant_by_slug(args.tenant) is None:
            raise CommandError(f"no tenant {args.tenant!r}")
        return await retention.run(dt.datetime.now(dt.timezone.utc), only=args.tenant,
                                   dry_run=args.dry_run)

    lines = _run(_with_engine(run))
    for line in lines:
        print(line)
    if not lines:
        print("nothing is due" if args.dry_run else "nothing was due")


def cmd_import(args: argparse.Namespace) -> None:
    _as_owner()
    from pathlib import Path

    from consent.imports import jobs, parse
    from optinbase import db
    from optinbase.context import TenantContext
    from optinbase.errors import NotFound
    from tenants import repository

    path = Path(args.file)
    fmt = args.format or {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}.get(
        path.suffix.lower()
    )
    if fmt is None:
        raise CommandError("cannot tell the format from the file name: give --format csv|ndjson")
    source = parse.scan(path.read_bytes(), fmt)  # a malformed file stops here

    def progress(done: int, total: int) -> None:
        print(f"\r{done:,}/{total:,} rows", end="", file=sys.stderr, flush=True)

    async def run() -> tuple[Any, Any]:
        tenant = await repository.tenant_by_slug(args.tenant)
        if tenant is None:
            raise NotFound(f"no tenant {args.tenant!r}")
        ctx = TenantContext(tenant_id=tenant.id, tenant_slug=tenant.slug,
                            actor="cli:import", country=tenant.country)
        # One transaction: interrupted, the import leaves nothing behind.
        async with db.tenant_transaction(tenant.id):
            return await jobs.import_now(ctx, source, progress)

    progress(0, source.total)
    job_id, report = _run(_with_engine(run))
    print(file=sys.stderr)
    for error in report.errors[:20]:
        print(f"line {error['line']}, {error['column'] or 'row'}: {error['reason']}", file=sys.stderr)
    print(f"import {job_id} done: {report.total:,} rows, {report.created:,} created,"
          f" {report.updated:,} updated, {report.rejected:,} rejected")


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes get one line, like every other error (`--help` stays full)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="optinbase", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    serve = sub.add_parser("serve", help="serve the HTTP API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(fn=cmd_serve)

    worker = sub.add_parser("worker", help="deliver queued e-mails and webhooks")
    worker.add_argument("--once", action="store_true", help="one batch, then exit")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    worker.set_defaults(fn=cmd_worker)

    tenants = sub.add_parser("tenants", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    create = tenants.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--agency")
    create.add_argument("--legal-name")
    create.add_argument("--dpo-email")
    create.add_argument("--country")
    create.set_defaults(fn=cmd_tenants_create)

    agencies = sub.add_parser("agencies", help="manage agencies").add_subparsers(
        dest="action", required=True
    )
    create = agencies.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.set_defaults(fn=cmd_agencies_create)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create")
    create.add_argument("--tenant")
    create.add_argument("--agency")
    create.add_argument("--name")
    create.add_argument("--scope", action="append")
    create.add_argument("--expires-in-days", type=int)
    create.set_defaults(fn=cmd_keys_create)
    revoke = keys.add_parser("revoke")
    revoke.add_argument("key_id")
    revoke.set_defaults(fn=cmd_keys_revoke)

    staff = sub.add_parser("staff", help="manage staff users").add_subparsers(
        dest="action", required=True
    )
    create = staff.add_parser("create")
    create.add_argument("email")
    create.add_argument("--tenant")
    create.add_argument("--agency")
    create.add_argument("--superuser", action="store_true")
    create.add_argument("--role", default="manager")
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(fn=cmd_staff_create)

    ledger = sub.add_parser("ledger", help="the consent ledger").add_subparsers(
        dest="action", required=True
    )
    verify = ledger.add_parser("verify")
    verify.add_argument("--tenant", required=True)
    verify.set_defaults(fn=cmd_ledger_verify)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    from optinbase.errors import DomainError
    from optinbase.settings import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (CommandError, DomainError, ConfigError) as exc:
        print(f"optinbase: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"optinbase: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a database refusing the connection, say
        print(f"optinbase: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
