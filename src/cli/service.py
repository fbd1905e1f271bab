"""Running Optinbase: `migrate`, `serve`, `worker`."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import signal
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import uvicorn

from cli.runtime import CommandError, as_owner, run
from messaging.outbox import OutboxWorker
from optinbase import logs, schema
from optinbase.settings import get_settings
from workers.housekeeping import run_periodic


def cmd_migrate(args: argparse.Namespace) -> None:
    as_owner()  # the application role only gets grants
    settings = get_settings()

    app_role = urlparse(settings.database_url).username
    if app_role == urlparse(settings.database_owner_url).username:
        app_role = None  # one role for everything: nothing to grant

    async def migrate() -> None:
        try:
            await schema.migrate(app_role)
        except schema.MigrationFailed as exc:
            raise CommandError(str(exc)) from None

    run(migrate)
    print("migrations applied")


def _outbox_worker(**options: object) -> OutboxWorker:
    """The outbox worker of these settings; an unusable SMTP_URL or MAIL_FROM
    is a one-line refusal to start."""
    try:
        return OutboxWorker.from_settings(get_settings(), **options)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def cmd_serve(args: argparse.Namespace) -> None:
    settings = get_settings()
    try:
        missing = run(schema.pending)
    except Exception as exc:
        if "permission" not in str(exc):
            raise
        raise CommandError("the application role cannot read the migration table: run"
                           " `optinbase migrate` (it grants the role what it needs)") from None
    if missing:
        raise CommandError(f"the database is not migrated ({len(missing)} migration(s) missing,"
                           f" e.g. {missing[0]}): run `optinbase migrate` first")
    if settings.outbox_worker:
        _outbox_worker()
    workers = args.workers or (os.cpu_count() or 1 if settings.production else 1)
    if workers < 1:
        raise CommandError("--workers must be at least 1")
    _metrics_directory(workers)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_config=logs.config(),  # JSON lines, in every worker process too
        log_level=logs.level().lower(),
        access_log=False,  # the app writes one line per request (api.requestlog)
        # The client address is decided by api.clients (TRUSTED_PROXIES), never
        # by uvicorn's default trust in X-Forwarded-For from 127.0.0.1.
        proxy_headers=False,
        **_patient_supervisor(),
    )


def _patient_supervisor() -> dict[str, int]:
    """uvicorn (≥ 0.38) restarts a worker process that does not answer its
    supervisor within 5 s — building the app (Piccolo Admin, catalogues) can
    take longer on a busy machine, and the worker would be killed in a loop."""
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters:
        return {"timeout_worker_healthcheck": 60}
    return {}


def _metrics_directory(workers: int) -> None:
    """Several processes share their metrics through files (prometheus-client's
    multi-process mode): a fresh directory unless PROMETHEUS_MULTIPROC_DIR
    names one, emptied of a previous run's files. Set before uvicorn starts
    its worker processes, which inherit the environment."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        if workers == 1:
            return
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="optinbase-metrics-")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def cmd_worker(args: argparse.Namespace) -> None:
    """Delivers the outbox until interrupted; run as many as you like."""
    worker = _outbox_worker(poll_seconds=args.poll)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.once:
            try:
                print(f"{await worker.run_once()} messages delivered")
            finally:
                await worker.close()
            return
        print("outbox worker running (Ctrl-C stops it)", file=sys.stderr)
        await asyncio.gather(worker.run_forever(stop), run_periodic(stop))

    run(work)


def add_commands(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    serve = sub.add_parser("serve", help="serve the HTTP API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=None,
                       help="server processes (default: 1; the CPU count when"
                            " OPTINBASE_ENV=production)")
    serve.set_defaults(fn=cmd_serve)

    worker = sub.add_parser("worker", help="deliver queued e-mails and webhooks")
    worker.add_argument("--once", action="store_true", help="one batch, then exit")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    worker.set_defaults(fn=cmd_worker)
