"""The one way into the database.

* `engine_from_url` builds Piccolo's engine from DATABASE_URL.
* `tenant_transaction(tenant_id)` is the choke point for tenant data: on
  PostgreSQL it opens a transaction and sets `app.tenant_id` for row-level
  security in the same round trip; on SQLite it opens an (immediate, for writes)
  transaction. Piccolo queries made inside join it through Piccolo's contextvar.
* `fetch`/`fetchrow`/`fetchval`/`execute` run named SQL written once with `{}`
  placeholders, compiled to `$n` (asyncpg) or `?` (sqlite3). Values are always
  bound, never formatted into the text.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from functools import lru_cache
from typing import Any, AsyncIterator, Optional, Sequence

from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

# Tenant of the transaction in progress; lets the data layer assert it is inside one.
current_tenant: contextvars.ContextVar[Optional[uuid.UUID]] = contextvars.ContextVar(
    "optinbase_current_tenant", default=None
)


def engine_from_url(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        return SQLiteEngine(path=url[len("sqlite:///") :], timeout=30)
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]}")


def get_engine() -> Engine:
    engine = engine_finder()
    if engine is None:  # pragma: no cover - piccolo_conf is always importable
        raise RuntimeError("piccolo_conf.DB is not configured")
    return engine


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


# --- transactions ------------------------------------------------------------


class _TenantPgTransaction(PostgresTransaction):
    """BEGIN and set_config in one simple-protocol round trip.

    The tenant id is a `uuid.UUID` we resolved ourselves, so its text is hex and
    dashes only and may be written into the statement. `set_config(..., true)`
    lasts until the transaction ends, so a pooled connection never carries it on.
    """

    __slots__ = ("settings", "read_only")

    def __init__(self, engine: PostgresEngine, settings: dict[str, uuid.UUID], read_only: bool):
        super().__init__(engine=engine, allow_nested=False)
        self.settings = settings
        self.read_only = read_only

    async def begin(self) -> None:
        mode = " READ ONLY" if self.read_only else ""
        configs = ", ".join(
            f"set_config('{name}', '{value}', true)" for name, value in self.settings.items()
        )
        await self.connection.execute(f"BEGIN{mode}; SELECT {configs or '1'}")

    async def commit(self) -> None:
        await self.connection.execute("COMMIT")
        self._committed = True

    async def rollback(self) -> None:
        await self.connection.execute("ROLLBACK")
        self._rolled_back = True


@contextlib.asynccontextmanager
async def tenant_transaction(
    tenant_id: uuid.UUID | None, *, write: bool = True, agency_id: uuid.UUID | None = None
) -> AsyncIterator[None]:
    """Run the block in one transaction scoped to `tenant_id`.

    `tenant_id=None` opens a transaction that, under RLS, sees no tenant rows
    (fail closed); with `agency_id` it may manage that agency's own keys.
    """
    for value in (tenant_id, agency_id):
        if value is not None and not isinstance(value, uuid.UUID):
            raise TypeError("tenant and agency ids must be uuid.UUID")
    engine = get_engine()
    if engine.current_transaction.get() is not None:
        if current_tenant.get() != tenant_id:
            raise RuntimeError("nested transaction for another tenant")
        yield
        return
    token = current_tenant.set(tenant_id)
    try:
        if isinstance(engine, PostgresEngine):
            settings = {"app.tenant_id": tenant_id} if tenant_id else {}
            if agency_id:
                settings["app.agency_id"] = agency_id
            async with _TenantPgTransaction(engine, settings, read_only=not write):
                yield
        else:
            kind = TransactionType.immediate if write else TransactionType.deferred
            async with SQLiteTransaction(engine, transaction_type=kind, allow_nested=False):
                yield
    finally:
        current_tenant.reset(token)


def require_tenant(tenant_id: uuid.UUID) -> None:
    """Guard for tenant-table writes: they must run inside that tenant's transaction."""
    if current_tenant.get() != tenant_id:
        raise RuntimeError("tenant data touched outside its tenant transaction")


def use_engine(engine: Engine) -> None:
    """Point Piccolo and every table at `engine` (tests switch SQLite/PostgreSQL)."""
    from piccolo.table import Table

    import optinbase.piccolo_conf as conf

    conf.DB = engine
    pending = list(Table.__subclasses__())
    while pending:
        table = pending.pop()
        pending.extend(table.__subclasses__())
        table._meta.db = engine
