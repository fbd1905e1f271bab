"""Import jobs: how an import runs and what it reports.

An import is ONE transaction (rows, ledger events, states and the job's final
report commit together): a crash or kill mid-import leaves the base as before.

Through the API the file is always checked for structure inside the request
(a malformed file is a 4xx answer and writes nothing). Then:
* a body up to `inline_max` bytes (IMPORT_INLINE_BYTES, default 1 MiB) is
  imported inside the request's own transaction: 202 with status `done`;
* a larger one is answered at once (202, `queued`) and imported by a task of
  this process in its own tenant transaction, which holds the job's row locked.
  If the process dies meanwhile (a restart, a crash) nothing of it is written
  and housekeeping (`fail_abandoned`) turns the job `failed` within minutes, so
  a poller learns to send the file again (a re-import updates, it never
  duplicates).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import datetime as dt
import json
import logging
import uuid
from typing import Any, Callable, Optional

from consent import suppression
from consent.imports import parse
from consent.imports.validate import Rejection, Valid, load_catalog, validate
from consent.imports.write import Writer
from consent.schemas import ImportErrorOut, ImportJobOut
from optinbase import audit, db, metrics
from optinbase.context import TenantContext
from optinbase.errors import DomainError, NotFound, Unavailable
from tenants import envelope
from tenants.repository import TenantRecord

logger = logging.getLogger("optinbase.imports")
ERRORS_KEPT = 1_000
CHUNK_ROWS = 10_000
YIELD_ROWS = 100
MAX_BODY_BYTES = 200 * 1024 * 1024
MEDIA_TYPES = {
    "text/csv": "csv", "application/csv": "csv",
    "application/x-ndjson": "ndjson", "application/ndjson": "ndjson",
    "application/jsonl": "ndjson", "application/x-jsonlines": "ndjson",
}

_COLUMNS = (
    "id, status, format, total, created, updated, rejected, errors, detail, created_at,"
    " finished_at"
)
_INSERT = (
    "INSERT INTO import_job (id, tenant_id, status, format, total, created, updated, rejected,"
    " errors, detail, actor, created_at) VALUES ({}, {}, {}, {}, {}, 0, 0, 0, '[]', '', {}, {})"
)
_FINISH = (
    "UPDATE import_job SET status = {}, created = {}, updated = {}, rejected = {}, errors = {},"
    " detail = {}, finished_at = {} WHERE tenant_id = {} AND id = {}"
)
# The claim commits `running` and the import's transaction locks the row a few
# milliseconds later: a job still unlocked after this long has no process.
ABANDONED_AFTER = dt.timedelta(minutes=2)
ABANDONED_DETAIL = ("interrupted: the server stopped during the import and nothing was"
                    " imported; send the file again")
_HOLD = "SELECT id FROM import_job WHERE tenant_id = {} AND id = {}"
_RUNNING_BEFORE = (
    "SELECT id FROM import_job WHERE tenant_id = {} AND status = 'running' AND created_at < {}"
)
_CLAIM = (
    "UPDATE import_job SET status = 'running' WHERE tenant_id = {} AND id = {}"
    " AND status = 'queued' RETURNING id"
)


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class Report:
    def __init__(self, total: int):
        self.total, self.created, self.updated, self.rejected = total, 0, 0, 0
        self.errors: list[dict[str, Any]] = []

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(
                {"line": rejection.line, "column": rejection.column, "reason": rejection.reason}
            )


def format_for(content_type: str) -> str:
    media, _, params = (content_type or "").partition(";")
    fmt = MEDIA_TYPES.get(media.strip().lower())
    if fmt is None:
        raise UnsupportedMediaType(
            "send the file as text/csv or application/x-ndjson", errors=[
                {"field": "Content-Type", "message": "text/csv or application/x-ndjson"}]
        )
    charset = params.strip().lower().partition("charset=")[2].strip('" ')
    if charset and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("import files must be UTF-8 (charset=utf-8)")
    return fmt


async def run(
    ctx: TenantContext, source: parse.Source, job_id: uuid.UUID,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Report:
    """Imports `source` in the caller's transaction and stores the job's report."""
    db.require_tenant(ctx.tenant_id)
    catalog = await load_catalog(ctx)
    key = await suppression.tenant_key(ctx.tenant_id)
    listed = await suppression.suppressed_channels(ctx)
    writer = Writer(ctx, source.format, listed)
    await writer.prepare()
    report, done, now = Report(source.total), 0, dt.datetime.now(dt.timezone.utc)
    chunk: list[Valid] = []
    # The chunk being written. Its statements run in PostgreSQL while this loop
    # validates the next chunk (yielding every YIELD_ROWS rows so the write can
    # move on to its next statement): Python and the database work side by
    # side instead of in turn. Chunks are still written one after the other,
    # in file order: the next one is matched against what this one wrote.
    writing: Optional[asyncio.Task] = None

    async def settle() -> None:
        nonlocal writing
        if writing is not None:
            task, writing = writing, None
            result = await task
            report.created += result.created
            report.updated += result.updated
            for rejection in sorted(result.rejections, key=lambda r: r.line):
                report.reject(rejection)

    try:
        for record in source.records():
            checked = validate(record, source.format, ctx, catalog, key, listed, now)
            if isinstance(checked, Rejection):
                report.reject(checked)
            else:
                chunk.append(checked)
            done += 1
            if done % YIELD_ROWS == 0:
                await asyncio.sleep(0)
            if done % CHUNK_ROWS == 0:
                await settle()
                writing = asyncio.ensure_future(writer.write(chunk, now))
                chunk = []
                if progress:
                    progress(done, source.total)
        await settle()
        if chunk:
            writing = asyncio.ensure_future(writer.write(chunk, now))
            await settle()
        if progress:
            progress(done, source.total)
    finally:
        if writing is not None:  # failing elsewhere: the transaction rolls back
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing
    report.errors.sort(key=lambda e: e["line"])
    await _finish(ctx, job_id, "done", report)
    db.after_commit(functools.partial(_counted, report.total, report.rejected))
    await audit.record(ctx, "import.done", "import_job", job_id, {
        "format": source.format, "total": report.total, "created": report.created,
        "updated": report.updated, "rejected": report.rejected,
    })
    return report


async def _counted(total: int, rejected: int) -> None:
    """Once the import committed: its rows in the metrics, one summary log line."""
    metrics.record_import(total, rejected)
    logger.info("import done", extra={"fields": {"rows": total, "rejected": rejected}})


async def _insert(ctx: TenantContext, job_id: uuid.UUID, fmt: str, total: int, status: str) -> None:
    await db.execute(
        _INSERT, job_id, ctx.tenant_id, status, fmt, total, ctx.actor,
        dt.datetime.now(dt.timezone.utc),
    )


async def _finish(ctx: TenantContext, job_id: uuid.UUID, status: str, report: Report,
                  detail: str = "") -> None:
    await db.execute(
        _FINISH, status, report.created, report.updated, report.rejected,
        json.dumps(report.errors), detail, dt.datetime.now(dt.timezone.utc),
        ctx.tenant_id, job_id,
    )


async def import_now(
    ctx: TenantContext, source: parse.Source,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[uuid.UUID, Report]:
    """Job row and import in the caller's transaction (the CLI, small API bodies)."""
    job_id = uuid.uuid4()
    await _insert(ctx, job_id, source.format, source.total, "running")
    return job_id, await run(ctx, source, job_id, progress)


async def submit(ctx: TenantContext, body: bytes, content_type: str, inline_max: int) -> ImportJobOut:
    source = parse.scan(body, format_for(content_type))
    if len(body) <= inline_max:
        job_id, _ = await import_now(ctx, source)
    else:
        job_id = uuid.uuid4()
        await _insert(ctx, job_id, source.format, source.total, "queued")
        _spawn(_in_background(ctx, job_id, source))
    return await get_job(ctx, job_id)


async def get_job(ctx: TenantContext, job_id: uuid.UUID) -> ImportJobOut:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM import_job WHERE tenant_id = {{}} AND id = {{}}",
        ctx.tenant_id, job_id,
    )
    if row is None:
        raise NotFound("import not found")
    errors = row["errors"]
    return ImportJobOut(
        id=row["id"], status=row["status"], format=row["format"],
        total=row["total"], created=row["created"], updated=row["updated"],
        rejected=row["rejected"], errors=[ImportErrorOut(**e) for e in errors or []],
        detail=row["detail"], created_at=row["created_at"], finished_at=row["finished_at"],
    )


# --- background jobs --------------------------------------------------------------

_tasks: set[asyncio.Task] = set()


def _spawn(coro: Any) -> None:
    # A fresh context: the task must not inherit the request's transaction.
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _claim(ctx: TenantContext, job_id: uuid.UUID, seconds: float = 60.0) -> bool:
    """Waits for the request that queued the job to commit, then marks it running."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        async with envelope.tenant(ctx):
            if await db.fetchrow(_CLAIM, ctx.tenant_id, job_id):
                return True
        await asyncio.sleep(0.05)
    return False  # the request rolled back: there is no job


# Jobs this process is importing (SQLite has no row locks to tell live ones by).
_live: set[uuid.UUID] = set()


async def _in_background(ctx: TenantContext, job_id: uuid.UUID, source: parse.Source) -> None:
    try:
        if not await _claim(ctx, job_id):
            return
        async with envelope.tenant(ctx):
            await db.fetch(_HOLD + db.row_lock(), ctx.tenant_id, job_id)  # held until the end: alive
            _live.add(job_id)
            await run(ctx, source, job_id)
    except BaseException as exc:
        detail = failure_detail(exc)
        if detail is None:
            logger.exception("import %s failed", job_id)
            detail = "the import failed on an internal error (logged); nothing was imported"
        _live.discard(job_id)
        if isinstance(exc, Exception):
            await _record_failure(ctx, job_id, source.total, detail)
        else:  # cancelled (the server stops): one try, then housekeeping's turn
            with contextlib.suppress(Exception):
                async with envelope.tenant(ctx):
                    await _finish(ctx, job_id, "failed", Report(source.total), detail)
            raise
    finally:
        _live.discard(job_id)


UNAVAILABLE_DETAIL = ("interrupted: the database became unreachable during the import (a restart"
                      " or failover); nothing was imported; send the file again")
RECORD_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # then every 5 s
RECORD_GIVE_UP_SECONDS = 15 * 60


def failure_detail(exc: BaseException) -> Optional[str]:
    """What the job's report says of the failure; None: unexpected (logged)."""
    if isinstance(exc, asyncio.CancelledError):
        return "interrupted"
    error = exc if isinstance(exc, DomainError) else db.domain_error_of(exc)
    if isinstance(error, Unavailable):
        return UNAVAILABLE_DETAIL
    return error.detail if error is not None else None


async def _record_failure(ctx: TenantContext, job_id: uuid.UUID, total: int, detail: str) -> None:
    """Marks the job `failed` with `detail`. When the database itself is what
    failed, it is retried until the database is back (a restart takes seconds),
    so a poller learns the reason at once instead of after housekeeping's
    ABANDONED_AFTER; past RECORD_GIVE_UP_SECONDS housekeeping takes over."""
    loop = asyncio.get_running_loop()
    deadline, attempt = loop.time() + RECORD_GIVE_UP_SECONDS, 0
    while True:
        try:
            async with envelope.tenant(ctx):
                await _finish(ctx, job_id, "failed", Report(total), detail)
            return
        except Exception as exc:
            if not isinstance(db.domain_error_of(exc), Unavailable) or loop.time() > deadline:
                logger.warning("import %s: its failure could not be recorded (%s)", job_id, exc)
                return
        await asyncio.sleep(RECORD_RETRY_SECONDS[min(attempt, len(RECORD_RETRY_SECONDS) - 1)])
        attempt += 1


def importing_here() -> bool:
    """Whether this process is importing: on SQLite its import holds the write
    lock, so housekeeping that writes must wait for the next round."""
    return bool(_live) and not db.is_postgres()


async def fail_abandoned(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    """Housekeeping, for each tenant: background imports whose process died are
    `running` for ever with nothing of them written; they become `failed`. A
    live import holds its job's row locked (PostgreSQL: SKIP LOCKED passes it
    by) or is known to this process (SQLite, where one process writes).
    Returns how many."""
    failed = 0
    for row in await db.fetch(_RUNNING_BEFORE + db.row_lock(skip_locked=True), ctx.tenant_id,
                              now - ABANDONED_AFTER):
        await _finish(ctx, row["id"], "failed", Report(0), ABANDONED_DETAIL)
        failed += 1
    return failed
