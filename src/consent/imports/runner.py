"""How an import's rows go in: chunk after chunk, each chunk committed with the
job's progress.

A chunk (IMPORT_CHUNK_ROWS rows of the file, in file order; 2,500 by default) is validated in Python,
then written in its own tenant transaction together with the job row's
progress: `rows_done` (the rows of the file up to the chunk's last one), the
counts and the rejections so far. The tenant's chain head (`ledger_head`) is
locked for the end of that transaction only (on PostgreSQL from the chunk's
ledger events on: consent.imports.write), so the tenant's other writers —
unsubscribes, confirmations, API consents — go in between two chunks instead of
waiting for the whole file. A chunk is all or nothing: a kill loses at most the
chunks being written, never half a row, and their ledger events with them.

Resuming starts after `rows_done` with the stored counts: the report of a
resumed job is the report of one uninterrupted run. Each chunk first checks,
under the job row's lock, that `rows_done` is still what this run last
committed — two processes on one job (a resume while the first still lives)
cannot both write a chunk: the second stops (`Superseded`).

Inside a caller's transaction (the API's small bodies) every chunk joins it: one
transaction, as before. On PostgreSQL the next chunk is validated while the
current one is written (Python and the database side by side); on SQLite a
write transaction holds the whole file, so chunks go one after the other and
validating the next one is the gap in which other writers get the file
(a write transaction asks for it every 5 ms: db._begin_immediate).

On PostgreSQL up to IN_FLIGHT chunks (three) are in flight, each in its own
transaction on its own connection: a chunk of new people that shares no
identifier with the ones before sends its contacts and states while those
finish, then waits for the commit of the one before it at the chain head's
lock. Its progress is written last, from the report the chunk before
committed, and only if `rows_done` is that chunk's: a chunk never commits
unless every chunk before it has, so a kill still leaves whole chunks in file
order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import uuid
from typing import Any, Callable, Optional

from consent import suppression
from consent.imports import parse
from consent.imports.validate import Rejection, Valid, load_catalog, validate
from consent.imports.write import Ahead, ChunkResult, Writer
from optinbase import db, process
from optinbase.context import TenantContext
from optinbase.errors import DomainError
from optinbase.settings import get_settings
from tenants import envelope

ERRORS_KEPT = 1_000
# Validating the next chunk yields this often: a statement of the chunk being
# written that has finished waits for at most this many rows before its
# successor leaves (100 rows: 0.72 s of 100,000 rows' small statements in flight, 25: 0.41 s).
YIELD_ROWS = 25
# Working a chunk out ahead (Writer.ahead) yields as often: ~16 µs a row
# against validating's ~45.
AHEAD_ROWS = 64
# Chunks written at once (PostgreSQL): the one holding the chain head, and
# behind it the next ones' contacts and states. With two, no import backend
# was running a quarter of the time — the one ahead waiting for Python to
# send its next statement, the one behind for its lock — and a core idled;
# with three, a sixth less (200,000 rows, pg_stat_activity sampled every
# 5 ms), and the import took ~7 % less time for the same Python CPU. The
# command line's pool has as many connections (cli.runtime).
IN_FLIGHT = 3

_PROGRESS = (
    "SELECT status, total, created, updated, rejected, errors, rows_done FROM import_job"
    " WHERE tenant_id = {} AND id = {}"
)
_ADVANCE = (
    "UPDATE import_job SET status = 'running', rows_done = {}, created = {}, updated = {},"
    " rejected = {}, errors = {}, detail = '', finished_at = NULL, progressed_at = {}"
    " WHERE tenant_id = {} AND id = {}"
)
# The check that `rows_done` is still this run's, which locks the job row
# (then the writer's planning settings: Writer.plan).
_CHECK = "SELECT rows_done{} FROM import_job WHERE tenant_id = {{}} AND id = {{}}"
# The same check and the progress in one statement, when the chunk's counts are
# known before its transaction (worked out ahead): the UPDATE locks the row, and
# one whose `rows_done` moved (another run committed a chunk, even while this
# one waited for the lock) is not updated (READ COMMITTED re-checks the WHERE).
_ADVANCE_CHECKED = _ADVANCE + " AND rows_done = {} RETURNING id"


class Superseded(DomainError):
    """Another run of the same job committed a chunk this one was writing."""

    status = 409
    title = "Import continued elsewhere"
    slug = "import-superseded"


class Report:
    """What a job has done so far: rows committed, counts, the first rejections."""

    def __init__(self, total: int, rows_done: int = 0, created: int = 0, updated: int = 0,
                 rejected: int = 0, errors: Optional[list[dict[str, Any]]] = None):
        self.total, self.rows_done = total, rows_done
        self.created, self.updated, self.rejected = created, updated, rejected
        self.errors: list[dict[str, Any]] = list(errors or [])

    def after(self, upto: int, result: ChunkResult, rejections: list[Rejection]) -> "Report":
        """This report with one more chunk (rows up to `upto`), as a new one:
        the job's own report changes only once the chunk has committed."""
        merged = sorted([*rejections, *result.rejections], key=lambda r: r.line)
        room = max(0, ERRORS_KEPT - len(self.errors))
        return Report(
            self.total, upto, self.created + result.created, self.updated + result.updated,
            self.rejected + len(merged),
            self.errors + [{"line": r.line, "column": r.column, "reason": r.reason}
                           for r in merged[:room]],
        )


async def load(ctx: TenantContext, job_id: uuid.UUID) -> Report:
    """The job's report as committed (where a resumed run starts)."""
    async with envelope.tenant(ctx, write=False):
        row = await db.fetchrow(_PROGRESS, ctx.tenant_id, job_id)
    return Report(row["total"], row["rows_done"], row["created"], row["updated"],
                  row["rejected"], row["errors"] or [])


class _Inputs:
    """What validating and writing rows needs of the tenant, read once per run."""

    async def read(self, ctx: TenantContext) -> "_Inputs":
        async with envelope.tenant(ctx, write=False):
            self.catalog = await load_catalog(ctx)
            self.key = await suppression.tenant_key(ctx.tenant_id)
            self.listed = await suppression.suppressed_channels(ctx)
        return self


async def run(ctx: TenantContext, source: parse.Source, job_id: uuid.UUID, report: Report,
              progress: Optional[Callable[[int, int], None]] = None) -> Report:
    """Imports the rows of `source` after `report.rows_done`, chunk by chunk,
    and returns the report once the last chunk committed (the job stays
    `running`: finishing it is the caller's).

    One run of a job at a time, across processes (`db.exclusive`): the same
    file sent again while it is imported stops at once (`Superseded`). The
    chunk-level check of `rows_done` alone no longer suffices with two chunks
    in flight — a chunk written behind another takes the job row only at its
    end, and a second run holding that row while it waits for the first run's
    uncommitted contacts would deadlock with it."""
    if db.in_transaction():  # the caller's one transaction: nothing to resume
        return await _run(ctx, source, job_id, report, progress, pipelined=False)
    async with db.exclusive(run_lock(job_id)) as held:
        if not held:
            raise Superseded(f"import {job_id} is being written by another process")
        return await _run(ctx, source, job_id, report, progress, pipelined=db.is_postgres())


def run_lock(job_id: uuid.UUID) -> str:
    """The name of the lock a run of the job holds (db.exclusive)."""
    return f"import:{job_id}"


async def _run(ctx: TenantContext, source: parse.Source, job_id: uuid.UUID, report: Report,
               progress: Optional[Callable[[int, int], None]], pipelined: bool) -> Report:
    """`pipelined`: two chunks may be in flight (PostgreSQL, each chunk in a
    transaction of its own)."""
    inputs = await _Inputs().read(ctx)
    writer = Writer(ctx, source.format, inputs.listed)
    now = dt.datetime.now(dt.timezone.utc)
    side_by_side = db.is_postgres()
    chunk_rows = get_settings().import_chunk_rows
    done = report.rows_done
    chunk: list[Valid] = []
    rejections: list[Rejection] = []
    # Chunks being written, oldest first (at most IN_FLIGHT: `behind`).
    writing: list[_Chunk] = []
    sent = report.rows_done  # rows up to the last chunk sent
    if progress:
        progress(done, source.total)

    async def settle(keep: int = 0) -> None:
        nonlocal report
        while len(writing) > keep:
            report = await writing[0].task
            writing.pop(0)

    def behind(ahead: Optional[Ahead]) -> bool:
        """Whether this chunk can go in while the ones being written finish:
        it names nobody stored (worked out ahead) and nobody of those chunks."""
        if not (pipelined and ahead is not None and writing):
            return False
        return all(w.keys is not None and w.keys.isdisjoint(ahead.keys) for w in writing)

    async def send(upto: int, ahead: Optional[Ahead] = None) -> None:
        nonlocal chunk, rejections, sent
        await settle(IN_FLIGHT - 1)
        if not behind(ahead):
            await settle()
        sent = upto
        base: Report | _Before = _Before(writing[-1]) if writing else report
        this = _Chunk(job_id, upto, ahead.keys if ahead is not None else None)
        this.task = asyncio.ensure_future(
            _commit(ctx, job_id, writer, base, this, chunk, rejections, now, ahead))
        writing.append(this)
        chunk, rejections = [], []

    async def prepared() -> Optional[Ahead]:
        """The chunk worked out as if it named no stored contact, while the
        previous one is still written (PostgreSQL; Writer.ahead, yielding as
        validating does), as long as the chunks so far named nobody stored."""
        if not (side_by_side and chunk and writer.all_new):
            return None
        return await writer.ahead(chunk, now, AHEAD_ROWS)

    with process.bulk_work():  # fewer cyclic collections meanwhile
        try:
            for record in itertools.islice(source.records(), report.rows_done, None):
                checked = validate(record, source.format, ctx, inputs.catalog, inputs.key,
                                   inputs.listed, now)
                if isinstance(checked, Rejection):
                    rejections.append(checked)
                else:
                    chunk.append(checked)
                done += 1
                if done % YIELD_ROWS == 0:
                    await asyncio.sleep(0)
                if done % chunk_rows == 0:
                    await send(done, await prepared())
                    if not side_by_side:
                        await settle()
                    if progress:
                        progress(done, source.total)
            if done > sent:  # the last, shorter chunk
                await send(done, await prepared())
            await settle()
            if progress:
                progress(done, source.total)
        finally:
            for being in reversed(writing):  # failing elsewhere: chunks being written roll back
                being.task.cancel()
            for being in writing:
                with contextlib.suppress(BaseException):
                    await being.task
    return report


class _Chunk:
    """A chunk being written: its task, the identifiers of its people when
    worked out ahead, and the lock its transaction holds (`db.hold`) until it
    ends — what a chunk written behind it waits for (`_Before`)."""

    __slots__ = ("upto", "lock", "keys", "task", "holding")

    def __init__(self, job_id: uuid.UUID, upto: int, keys: Optional[frozenset]):
        self.upto, self.lock, self.keys = upto, f"import:{job_id}:{upto}", keys
        self.task: Optional[asyncio.Task] = None
        # Set once its transaction holds the lock (or has failed before):
        # waiting for the lock before that would not wait at all.
        self.holding = asyncio.Event()

    async def begin(self, writer: Writer) -> None:
        """First in its transaction: the lock, then the signal (`_commit` gives
        it too if the chunk fails before), then the writer's plans
        (`Writer.replan`)."""
        await db.hold(self.lock)
        self.holding.set()
        await writer.replan()


class _Before:
    """How a chunk written behind another waits for it: in the database (its
    lock), so that PostgreSQL's deadlock detector sees the wait — a chunk
    holding new contacts while it waited in Python could close a cycle
    through another transaction (one waiting for those contacts' keys while
    holding a row the chunk before needs) that would hang for ever — then
    for its report. Waits once; later calls return the same report."""

    def __init__(self, chunk: _Chunk):
        self.chunk = chunk
        self.report: Optional[Report] = None

    async def __call__(self) -> Report:
        if self.report is None:
            await self.chunk.holding.wait()
            await db.wait_for(self.chunk.lock)
            assert self.chunk.task is not None
            # shield: cancelling this chunk does not cancel that one
            self.report = await asyncio.shield(self.chunk.task)
        return self.report


async def _commit(ctx: TenantContext, job_id: uuid.UUID, writer: Writer,
                  base: Report | _Before, this: _Chunk, rows: list[Valid],
                  rejections: list[Rejection], now: dt.datetime,
                  ahead: Optional[Ahead] = None) -> Report:
    """One chunk and the job's progress, in one tenant transaction (or in the
    caller's). Returns the report with the chunk. `base`: the report before
    it, or the chunk before, still being written (`_behind`)."""
    try:
        if isinstance(base, _Before):
            return await _behind(ctx, job_id, writer, base, this, rows, rejections, now, ahead)
        return await _first(ctx, job_id, writer, base, this, rows, rejections, now, ahead)
    finally:
        this.holding.set()  # (failed before taking its lock: the chunk behind must not wait)


async def _first(ctx: TenantContext, job_id: uuid.UUID, writer: Writer, report: Report,
                 this: _Chunk, rows: list[Valid], rejections: list[Rejection],
                 now: dt.datetime, ahead: Optional[Ahead]) -> Report:
    """A chunk written when none is in flight before it: the job row's check
    comes first and holds the row until it commits."""
    # Worked out ahead: the progress is written by the job row's check, unless
    # the chunk named stored people after all (`write` matched it itself).
    expected = report.after(this.upto, ahead.result, rejections) if ahead is not None else None
    async with envelope.tenant(ctx):
        await this.begin(writer)
        if expected is not None:
            if await db.fetchval(_ADVANCE_CHECKED + writer.plan, *_progress(expected),
                                 ctx.tenant_id, job_id, report.rows_done) is None:
                raise Superseded(f"import {job_id} was continued by another process")
        else:
            stored = await db.fetchval(_CHECK.format(writer.plan) + db.row_lock(),
                                       ctx.tenant_id, job_id)
            if stored != report.rows_done:
                raise Superseded(f"import {job_id} was continued by another process")
        await writer.prepare()
        result = await writer.write(rows, now, ahead) if rows else ChunkResult()
        if expected is not None and ahead is not None and result is ahead.result:
            return expected
        after = report.after(this.upto, result, rejections)
        await db.execute(_ADVANCE, *_progress(after), ctx.tenant_id, job_id)
    return after


async def _behind(ctx: TenantContext, job_id: uuid.UUID, writer: Writer, before: _Before,
                  this: _Chunk, rows: list[Valid], rejections: list[Rejection],
                  now: dt.datetime, ahead: Optional[Ahead]) -> Report:
    """A chunk written while the one before finishes: its job row is only read
    at first (the planning settings; the chunk before holds the row's lock),
    and its progress, built on the report that chunk committed, is written
    last, where `rows_done` must be that chunk's."""
    async with envelope.tenant(ctx):
        await this.begin(writer)
        await db.fetchval(_CHECK.format(writer.plan), ctx.tenant_id, job_id)
        result = await writer.write(rows, now, ahead, behind=before)
        report = await before()
        after = report.after(this.upto, result, rejections)
        if await db.fetchval(_ADVANCE_CHECKED, *_progress(after), ctx.tenant_id, job_id,
                             report.rows_done) is None:
            raise Superseded(f"import {job_id} was continued by another process")
    return after


def _progress(report: Report) -> tuple[Any, ...]:
    """_ADVANCE's values before the job's key: the report's progress, now."""
    return (report.rows_done, report.created, report.updated, report.rejected,
            json.dumps(report.errors), dt.datetime.now(dt.timezone.utc))
