"""Import jobs: how an import is started, resumed, reported and failed.

Rows commit chunk by chunk (consent.imports.runner): each chunk with the job's
progress in one tenant transaction, so the tenant's unsubscribes and
confirmations go in between chunks instead of waiting for the whole file, and
a kill loses at most the chunks being written.

* `optinbase import FILE` creates its job (committed at once), then commits
  chunk after chunk. Killed or failed midway, the job keeps what committed
  (`rows_done`, counts, rejections); the same command with the same file
  finds that job by the file's SHA-256 and resumes it after its last
  committed chunk.
* Through the API the file is always checked for structure inside the request
  (a malformed file is a 4xx answer and writes nothing). A body up to
  `inline_max` bytes (IMPORT_INLINE_BYTES, default 1 MiB) is imported inside
  the request's own transaction: 202 with status `done`. A larger one is
  answered at once (202, `queued`) and imported chunk by chunk by a task of
  this process. If the process dies meanwhile, the committed chunks stay and
  housekeeping (`fail_abandoned`: no progress for ABANDONED_AFTER) turns the
  job `failed`, saying how far it got; posting the same file again resumes
  that job (the answer carries its id) after its last committed chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any, Callable, Optional

from consent.imports import parse, runner
from consent.imports.runner import Report, Superseded
from consent.schemas import ImportErrorOut, ImportJobOut
from optinbase import audit, db, metrics
from optinbase.context import TenantContext
from optinbase.errors import DomainError, NotFound, Unavailable
from tenants import envelope
from tenants.repository import TenantRecord

logger = logging.getLogger("optinbase.imports")
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
    " errors, detail, actor, created_at, rows_done, file_sha256, progressed_at)"
    " VALUES ({}, {}, {}, {}, {}, 0, 0, 0, '[]', '', {}, {}, 0, {}, {})"
)
_FINISH = (
    "UPDATE import_job SET status = {}, created = {}, updated = {}, rejected = {}, errors = {},"
    " detail = {}, finished_at = {} WHERE tenant_id = {} AND id = {}"
)
# Counts stay: they say what the committed chunks did.
_FAIL = (
    "UPDATE import_job SET status = 'failed', detail = {}, finished_at = {}"
    " WHERE tenant_id = {} AND id = {}"
)
# An interrupted job of the same file: resumed rather than started again.
_RESUMABLE = (
    "SELECT id FROM import_job WHERE tenant_id = {} AND file_sha256 = {} AND format = {}"
    " AND total = {} AND status IN ('running', 'failed') AND rows_done > 0"
    " ORDER BY created_at DESC LIMIT 1"
)
_REOPEN = (
    "UPDATE import_job SET status = {}, detail = '', finished_at = NULL, progressed_at = {}"
    " WHERE tenant_id = {} AND id = {}"
)
# A live import commits a chunk every second or so (and holds its job's row
# while it does): a `running` job that has not moved for this long has no process.
ABANDONED_AFTER = dt.timedelta(minutes=2)
_RUNNING_BEFORE = (
    "SELECT id, rows_done, total FROM import_job WHERE tenant_id = {} AND status = 'running'"
    " AND COALESCE(progressed_at, created_at) < {}"
)
_CLAIM = (
    "UPDATE import_job SET status = 'running', progressed_at = {} WHERE tenant_id = {}"
    " AND id = {} AND status = 'queued' RETURNING id"
)


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


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


def digest(body: bytes) -> str:
    """What recognises the same file sent again (to resume its job)."""
    return hashlib.sha256(body).hexdigest()


async def run(
    ctx: TenantContext, source: parse.Source, job_id: uuid.UUID,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Report:
    """Imports `source` into job `job_id` from where the job stands (chunks
    commit on their own, or join the caller's transaction) and marks it done."""
    report = await runner.run(ctx, source, job_id, await runner.load(ctx, job_id), progress)
    async with envelope.tenant(ctx):
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


async def _open(ctx: TenantContext, source: parse.Source, status: str,
                sha256: Optional[str]) -> tuple[uuid.UUID, bool]:
    """The job for `source`: the interrupted job of the same file, reopened
    with `status`, or a new one. Returns (its id, whether it resumes)."""
    now = dt.datetime.now(dt.timezone.utc)
    async with envelope.tenant(ctx):
        found = sha256 and await db.fetchval(_RESUMABLE, ctx.tenant_id, sha256, source.format,
                                             source.total)
        if found:
            await db.execute(_REOPEN, status, now, ctx.tenant_id, found)
            return found, True
        job_id = uuid.uuid4()
        await db.execute(_INSERT, job_id, ctx.tenant_id, status, source.format, source.total,
                         ctx.actor, now, sha256, now)
        return job_id, False


async def _finish(ctx: TenantContext, job_id: uuid.UUID, status: str, report: Report,
                  detail: str = "") -> None:
    await db.execute(
        _FINISH, status, report.created, report.updated, report.rejected,
        json.dumps(report.errors), detail, dt.datetime.now(dt.timezone.utc),
        ctx.tenant_id, job_id,
    )


async def _fail(ctx: TenantContext, job_id: uuid.UUID, reason: str) -> None:
    """The job `failed`, its committed chunks and counts kept; the detail says
    how far it got and how to go on."""
    row = await db.fetchrow("SELECT rows_done, total FROM import_job WHERE tenant_id = {}"
                            " AND id = {}", ctx.tenant_id, job_id)
    if row is None:
        return
    await db.execute(_FAIL, f"{reason}; {_how_far(row['rows_done'], row['total'])}",
                     dt.datetime.now(dt.timezone.utc), ctx.tenant_id, job_id)


def _how_far(rows_done: int, total: int) -> str:
    if not rows_done:
        return "nothing was imported; send the file again"
    return (f"the first {rows_done:,} of {total:,} rows are imported; send the file again"
            " to import the rest (the same file resumes this job)")


async def import_now(
    ctx: TenantContext, source: parse.Source,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[uuid.UUID, Report]:
    """Job row and import in the caller's transaction (small API bodies): one
    transaction, nothing to resume."""
    job_id, _ = await _open(ctx, source, "running", None)
    return job_id, await run(ctx, source, job_id, progress)


async def import_file(
    ctx: TenantContext, source: parse.Source, sha256: str,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[uuid.UUID, Report, bool]:
    """A file imported chunk by chunk, outside any transaction (the command
    line): the interrupted job of the same file is resumed. On a failure the
    job says `failed` and how far it got, and the error goes on up.
    Returns (job id, report, whether it resumed)."""
    job_id, resumed = await _open(ctx, source, "running", sha256)
    try:
        return job_id, await run(ctx, source, job_id, progress), resumed
    except Superseded:
        raise
    except BaseException as exc:
        with contextlib.suppress(Exception):  # one try: the operator sees the error anyway
            async with envelope.tenant(ctx):
                await _fail(ctx, job_id, failure_detail(exc) or "the import failed")
        raise


async def submit(ctx: TenantContext, body: bytes, content_type: str, inline_max: int) -> ImportJobOut:
    source = parse.scan(body, format_for(content_type))
    if len(body) <= inline_max:
        job_id, _ = await import_now(ctx, source)
    else:
        job_id, _ = await _open(ctx, source, "queued", digest(body))
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
            if await db.fetchrow(_CLAIM, dt.datetime.now(dt.timezone.utc), ctx.tenant_id, job_id):
                return True
        await asyncio.sleep(0.05)
    return False  # the request rolled back: there is no job


# Jobs this process is importing (housekeeping in this process never fails them).
_live: set[uuid.UUID] = set()


async def _in_background(ctx: TenantContext, job_id: uuid.UUID, source: parse.Source) -> None:
    try:
        if not await _claim(ctx, job_id):
            return
        _live.add(job_id)
        await run(ctx, source, job_id)
    except Superseded:
        logger.info("import %s: continued by another run of the same file", job_id)
    except BaseException as exc:
        detail = failure_detail(exc)
        if detail is None:
            logger.exception("import %s failed", job_id)
            detail = "the import failed on an internal error (logged)"
        _live.discard(job_id)
        if isinstance(exc, Exception):
            await _record_failure(ctx, job_id, detail)
        else:  # cancelled (the server stops): one try, then housekeeping's turn
            with contextlib.suppress(Exception):
                async with envelope.tenant(ctx):
                    await _fail(ctx, job_id, detail)
            raise
    finally:
        _live.discard(job_id)


UNAVAILABLE_DETAIL = ("interrupted: the database became unreachable during the import (a restart"
                      " or failover)")
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


async def _record_failure(ctx: TenantContext, job_id: uuid.UUID, detail: str) -> None:
    """Marks the job `failed` with `detail`. When the database itself is what
    failed, it is retried until the database is back (a restart takes seconds),
    so a poller learns the reason at once instead of after housekeeping's
    ABANDONED_AFTER; past RECORD_GIVE_UP_SECONDS housekeeping takes over."""
    loop = asyncio.get_running_loop()
    deadline, attempt = loop.time() + RECORD_GIVE_UP_SECONDS, 0
    while True:
        try:
            async with envelope.tenant(ctx):
                await _fail(ctx, job_id, detail)
            return
        except Exception as exc:
            if not isinstance(db.domain_error_of(exc), Unavailable) or loop.time() > deadline:
                logger.warning("import %s: its failure could not be recorded (%s)", job_id, exc)
                return
        await asyncio.sleep(RECORD_RETRY_SECONDS[min(attempt, len(RECORD_RETRY_SECONDS) - 1)])
        attempt += 1


ABANDONED_REASON = "interrupted: the process importing it stopped"


async def fail_abandoned(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    """Housekeeping, for each tenant: background or command-line imports whose
    process died stay `running` with no progress; they become `failed`, their
    committed chunks kept. A chunk being written may hold its job's row
    (PostgreSQL: SKIP LOCKED passes it by), and a live run holds its job's
    lock (runner.run, `db.exclusive`) even while a chunk waits with the row
    free; jobs of this process are left alone whatever their age. Returns
    how many."""
    failed = 0
    for row in await db.fetch(_RUNNING_BEFORE + db.row_lock(skip_locked=True), ctx.tenant_id,
                              now - ABANDONED_AFTER):
        if row["id"] in _live or await db.held(runner.run_lock(row["id"])):
            continue
        await db.execute(_FAIL, f"{ABANDONED_REASON}; {_how_far(row['rows_done'], row['total'])}",
                         now, ctx.tenant_id, row["id"])
        failed += 1
    return failed
