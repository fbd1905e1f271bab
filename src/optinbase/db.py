"""The one way into the database.

* `engine_from_url` builds Piccolo's engine from DATABASE_URL.
* `tenant_transaction(tenant_id)` is the choke point for tenant data: on
  PostgreSQL it opens a transaction and sets `app.tenant_id` for row-level
  security in the same round trip; on SQLite it opens an (immediate, for writes)
  transaction. Piccolo queries made inside join it through Piccolo's contextvar.
  `snapshot=True` makes every statement of it read one snapshot (REPEATABLE
  READ on PostgreSQL; a SQLite transaction always does).
* `fetch`/`fetchrow`/`fetchval`/`execute` run named SQL written once with `{}`
  placeholders, compiled to `$n` (asyncpg) or `?` (sqlite3). Values are always
  bound, never formatted into the text.
"""

from __future__ import annotations

import contextvars
import re
import sqlite3
import uuid
from functools import lru_cache
from typing import Any, Optional, Sequence

from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

from piccolo.table import Table

from optinbase import piccolo_conf
from optinbase.ids import FastUUID
from optinbase.piccolo_conf import engine_from_url  # noqa: F401 (db.engine_from_url: the one factory)

# Bulk writes use asyncpg's C UUID type (optinbase.ids); sqlite3 picks adapters
# by exact type, so it needs telling that it is a uuid like Piccolo's.
sqlite3.register_adapter(FastUUID, str)

# Work to run once the current transaction has committed (and never if it rolls back).
_after_commit: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "optinbase_after_commit", default=None
)


def after_commit(job: Any) -> None:
    """`job` (an async callable) runs after the enclosing tenant transaction commits."""
    pending = _after_commit.get()
    if pending is None:
        raise RuntimeError("after_commit needs an enclosing tenant transaction")
    pending.append(job)


# Whether the transaction in progress may write (GET requests run READ ONLY).
_writable: contextvars.ContextVar[bool] = contextvars.ContextVar("optinbase_writable", default=True)

# Whether every statement of the transaction in progress reads one snapshot.
_snapshot: contextvars.ContextVar[bool] = contextvars.ContextVar("optinbase_snapshot", default=False)

# Tenant of the transaction in progress; lets the data layer assert it is inside one.
current_tenant: contextvars.ContextVar[Optional[uuid.UUID]] = contextvars.ContextVar(
    "optinbase_current_tenant", default=None
)


_engine: Optional[Engine] = None


def get_engine() -> Engine:
    """piccolo_conf.DB, looked up once (engine_finder imports on every call)."""
    global _engine
    if _engine is None:
        _engine = engine_finder()
        if _engine is None:  # pragma: no cover - piccolo_conf is always importable
            raise RuntimeError("piccolo_conf.DB is not configured")
    return _engine


def is_postgres(engine: Engine | None = None) -> bool:
    return (engine or get_engine()).engine_type == "postgres"


async def _no_reset(connection: Any) -> None:
    """Pool release hook: asyncpg already rolled back any open transaction, and
    we keep no session state (tenant settings are transaction-local), so the
    default RESET ALL round trip would be pure cost."""


async def start(engine: Engine | None = None, max_size: int = 20) -> None:
    engine = engine or get_engine()
    if isinstance(engine, PostgresEngine):
        if engine.pool is None:
            await engine.start_connection_pool(
                min_size=1, max_size=max_size, reset=_no_reset
            )
    elif isinstance(engine, SQLiteEngine):
        # WAL lets readers run beside the one writer; the setting persists in the file.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def stop(engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


# --- SQL text ---------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\}")


@lru_cache(maxsize=1024)
def compile_sql(text: str, engine_type: str) -> str:
    if engine_type == "postgres":
        counter = iter(range(1, 10_000))
        return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", text)
    return _PLACEHOLDER.sub("?", text)


async def fetch(text: str, *args: Any) -> list[Any]:
    """Rows as mappings (asyncpg Records or dicts): `row["column"]`."""
    engine = get_engine()
    query = compile_sql(text, engine.engine_type)
    tx = engine.current_transaction.get()
    if engine.engine_type == "postgres":
        if tx is not None:
            return await tx.connection.fetch(query, *args)
        if engine.pool is not None:
            async with engine.pool.acquire() as conn:
                return await conn.fetch(query, *args)
        conn = await engine.get_new_connection()
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()
    if tx is not None:
        async with tx.connection.execute(query, args) as cursor:
            return list(await cursor.fetchall())
    connection = await engine.get_connection()
    try:
        async with connection.execute(query, args) as cursor:
            rows = list(await cursor.fetchall())
        await connection.commit()
        return rows
    finally:
        await connection.close()


async def fetchrow(text: str, *args: Any) -> Any | None:
    rows = await fetch(text, *args)
    return rows[0] if rows else None


async def fetchval(text: str, *args: Any) -> Any:
    row = await fetchrow(text, *args)
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def execute(text: str, *args: Any) -> None:
    await fetch(text, *args)


def _transaction_connection(engine: Engine) -> Any:
    tx = engine.current_transaction.get()
    if tx is None:
        raise RuntimeError("bulk statements run inside a transaction")
    return tx.connection


async def executemany(text: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for many argument rows, in the current transaction
    (asyncpg pipelines them; sqlite3 loops in C): bulk writes without a round
    trip per row."""
    if not rows:
        return
    engine = get_engine()
    await _transaction_connection(engine).executemany(
        compile_sql(text, engine.engine_type), rows
    )


async def copy_records(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL COPY into `table` (a temporary staging table: COPY into an RLS
    table is refused) on the current transaction's connection."""
    engine = get_engine()
    if not is_postgres(engine):
        raise RuntimeError("COPY is PostgreSQL only")
    await _transaction_connection(engine).copy_records_to_table(
        table, records=rows, columns=list(columns)
    )


async def copy_out(text: str, args: Sequence[Any], sink: Any, **options: Any) -> int:
    """PostgreSQL `COPY (query) TO STDOUT` on the current transaction's
    connection; `sink(bytes)` is awaited for each piece (slow sinks hold the
    server back, so memory stays bounded). Returns the number of rows. asyncpg
    inlines the arguments with the server's own quote_literal (COPY takes no
    bind parameters): pass secrets through set_config, not here."""
    engine = get_engine()
    if not is_postgres(engine):
        raise RuntimeError("COPY is PostgreSQL only")
    status = await _transaction_connection(engine).copy_from_query(
        compile_sql(text, engine.engine_type), *args, output=sink, **options
    )
    return int(status.rpartition(" ")[2])


async def set_local(settings: dict[str, str]) -> None:
    """`set_config(name, value, true)` for each, in one round trip: settings
    that end with the current transaction, values bound (never in SQL text)."""
    if not settings:
        return
    calls = ", ".join(["set_config({}, {}, true)"] * len(settings))
    await execute(f"SELECT {calls}", *(part for item in settings.items() for part in item))


def row_lock(skip_locked: bool = False) -> str:
    """What ends a SELECT that locks its rows until the transaction ends: on
    PostgreSQL `FOR UPDATE` (`SKIP LOCKED`: rows another transaction holds are
    passed by); nothing on SQLite, whose writers hold the whole file."""
    if not is_postgres():
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


# --- transactions ------------------------------------------------------------


class _PgTenantTransaction:
    """A pooled connection in one transaction, tenant set in the same round trip
    as BEGIN (simple protocol, two statements).

    The ids are `uuid.UUID`s we resolved ourselves, so their text is hex and
    dashes only and may be written into the statement. `set_config(..., true)`
    ends with the transaction, so a pooled connection never carries it on.
    Registered as Piccolo's current transaction: ORM queries inside join it.
    Lighter than Piccolo's PostgresTransaction (no asyncpg Transaction object):
    this runs for every API request.
    """

    __slots__ = ("engine", "begin", "connection", "context")

    def __init__(self, engine: PostgresEngine, settings: dict[str, Any], read_only: bool,
                 snapshot: bool = False):
        self.engine = engine
        configs = ", ".join(
            f"set_config('{name}', '{value}', true)" for name, value in settings.items()
        )
        mode = (" ISOLATION LEVEL REPEATABLE READ" if snapshot else "") + (
            " READ ONLY" if read_only else "")
        self.begin = f"BEGIN{mode}; SELECT {configs or '1'}"

    async def __aenter__(self) -> "_PgTenantTransaction":
        pool = self.engine.pool
        self.connection = await (pool.acquire() if pool else self.engine.get_new_connection())
        try:
            await self.connection.execute(self.begin)
        except BaseException:
            await self._release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.connection.is_closed() and self.connection.is_in_transaction():
                await self.connection.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._release()

    async def _release(self) -> None:
        if self.engine.pool is not None:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()


class tenant_transaction:
    """Run the block in one transaction scoped to `tenant_id`:
    `async with db.tenant_transaction(tenant_id, write=False): ...`

    `tenant_id=None` opens a transaction that, under RLS, sees no tenant rows
    (fail closed); with `agency_id` it may manage that agency's own keys.
    `snapshot=True`: all its statements read one snapshot of the database
    (what a check across several statements needs, e.g. the ledger's verify).
    Nested use for the same tenant joins the outer transaction.
    """

    __slots__ = ("tenant_id", "agency_id", "write", "snapshot", "_inner", "_token", "_jobs",
                 "_writable", "_snapshot")

    def __init__(
        self, tenant_id: uuid.UUID | None, *, write: bool = True,
        agency_id: uuid.UUID | None = None, snapshot: bool = False,
    ):
        for value in (tenant_id, agency_id):
            if value is not None and not isinstance(value, uuid.UUID):
                raise TypeError("tenant and agency ids must be uuid.UUID")
        self.tenant_id, self.agency_id, self.write = tenant_id, agency_id, write
        self.snapshot = snapshot
        self._inner: Any = None

    async def __aenter__(self) -> None:
        engine = get_engine()
        if engine.current_transaction.get() is not None:
            if current_tenant.get() != self.tenant_id:
                raise RuntimeError("nested transaction for another tenant")
            if self.write and not _writable.get():
                # Would fail on PostgreSQL only (READ ONLY): refuse on every engine.
                raise RuntimeError("a write transaction cannot join a read-only one")
            if self.snapshot and not _snapshot.get():
                raise RuntimeError("a snapshot read cannot join a transaction that is not one")
            return
        if isinstance(engine, PostgresEngine):
            settings = {"app.tenant_id": self.tenant_id} if self.tenant_id else {}
            if self.agency_id:
                settings["app.agency_id"] = self.agency_id
            self._inner = _PgTenantTransaction(engine, settings, read_only=not self.write,
                                               snapshot=self.snapshot)
        else:
            kind = TransactionType.immediate if self.write else TransactionType.deferred
            self._inner = SQLiteTransaction(engine, transaction_type=kind, allow_nested=False)
        await self._inner.__aenter__()
        self._token = current_tenant.set(self.tenant_id)
        self._jobs = _after_commit.set([])
        self._writable = _writable.set(self.write)
        # A SQLite transaction reads one snapshot whatever it was asked for: in
        # WAL mode from its first read on, and a writer holds the file.
        self._snapshot = _snapshot.set(self.snapshot or not isinstance(engine, PostgresEngine))

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._inner is None:
            return
        current_tenant.reset(self._token)
        _writable.reset(self._writable)
        _snapshot.reset(self._snapshot)
        jobs = _after_commit.get() or []
        _after_commit.reset(self._jobs)
        inner, self._inner = self._inner, None
        await inner.__aexit__(exc_type, exc, tb)
        if exc_type is None:
            for job in jobs:
                await job()


class worker_transaction:
    """A transaction for a delivery worker, which works across tenants on its
    own table only: on PostgreSQL it declares `app.worker = <name>`, which a
    policy on that table (and only that table) accepts."""

    __slots__ = ("name", "_inner")

    def __init__(self, name: str):
        if not re.fullmatch(r"[a-z_]{1,32}", name):
            raise ValueError("worker names are lower-case letters")
        self.name = name
        self._inner: Any = None

    async def __aenter__(self) -> None:
        engine = get_engine()
        if isinstance(engine, PostgresEngine):
            self._inner = _PgTenantTransaction(engine, {"app.worker": self.name}, read_only=False)
        else:
            self._inner = SQLiteTransaction(
                engine, transaction_type=TransactionType.immediate, allow_nested=False
            )
        await self._inner.__aenter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        inner, self._inner = self._inner, None
        await inner.__aexit__(exc_type, exc, tb)


def writable() -> bool:
    """Whether the transaction in progress may write (GET requests run read-only)."""
    return _writable.get()


def require_snapshot() -> None:
    """Guard for checks that read several statements and compare them: at READ
    COMMITTED each statement sees the commits made since the one before."""
    if get_engine().current_transaction.get() is None or not _snapshot.get():
        raise RuntimeError("this check must run in one snapshot (tenant_transaction(snapshot=True))")


def require_tenant(tenant_id: uuid.UUID) -> None:
    """Guard for tenant-table writes: they must run inside that tenant's transaction."""
    if current_tenant.get() != tenant_id:
        raise RuntimeError("tenant data touched outside its tenant transaction")


def use_engine(engine: Engine) -> None:
    """Point Piccolo and every table at `engine` (tests switch SQLite/PostgreSQL)."""
    global _engine
    piccolo_conf.DB = _engine = engine
    pending = list(Table.__subclasses__())
    while pending:
        table = pending.pop()
        pending.extend(table.__subclasses__())
        table._meta.db = engine


def db_uuid(value: Any) -> uuid.UUID:
    """A uuid column as uuid.UUID (SQLite hands back text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
