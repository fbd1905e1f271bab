"""The one way into the database.

* `engine_from_url` builds Piccolo's engine from DATABASE_URL.
* `transaction(settings, ...)` is the primitive under every tenant
  transaction: on PostgreSQL it opens a transaction and makes the row-level
  security settings (`app.tenant_id`, ...) in the same round trip; on SQLite it
  opens an (immediate, for writes) transaction. Piccolo queries made inside
  join it through Piccolo's contextvar. Only `tenants.envelope` opens one.
* `fetch`/`fetchrow`/`fetchval`/`execute` run named SQL written once with `{}`
  placeholders, compiled to `$n` (asyncpg) or `?` (sqlite3). Values are always
  bound, never formatted into the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import os
import re
import socket
import sqlite3
import uuid
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from piccolo.table import Table

from optinbase import piccolo_conf, rows
from optinbase.errors import Conflict, DomainError, Forbidden, NotFound, Unavailable
from optinbase.ids import FastUUID
from optinbase.piccolo_conf import engine_from_url  # noqa: F401 (db.engine_from_url: the one factory)

logger = logging.getLogger("optinbase.db")

# Bulk writes use asyncpg's C UUID type (optinbase.ids); sqlite3 picks adapters
# by exact type, so it needs telling that it is a uuid like Piccolo's.
sqlite3.register_adapter(FastUUID, str)

# Work to run once the current transaction has committed (and never if it rolls back).
_after_commit: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "optinbase_after_commit", default=None
)


def after_commit(job: Any) -> bool:
    """`job` (an async callable) runs after the enclosing tenant transaction
    commits, once however often it was registered (a transaction queueing
    10,000 e-mails wakes the outbox once). True when this call registered it."""
    pending = _after_commit.get()
    if pending is None:
        raise RuntimeError("after_commit needs an enclosing tenant transaction")
    if job in pending:
        return False
    pending.append(job)
    return True


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


# Whether the database has the citus extension (a coordinator): read by `start`
# and by the schema's grants (optinbase.schema.grant_app_role).
CITUS_INSTALLED = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"


def is_citus(engine: Engine | None = None) -> bool:
    """Whether the engine's database is a Citus coordinator (read by `start`)."""
    return _citus.get(id(engine or get_engine()), False)


async def _no_reset(connection: Any) -> None:
    """Pool release hook: asyncpg already rolled back any open transaction, and
    we keep no session state (tenant settings are transaction-local), so the
    default RESET ALL round trip would be pure cost."""


# Test hook: when set before start(), called with the text and arguments of
# every statement sent on the pool's PostgreSQL connections (tests/statement_guard.py checks
# them against Citus's routing rules). None, and no cost, otherwise.
statement_recorder: Optional[Callable[[str, Any], None]] = None


# Types asyncpg must look up in the catalog (its type introspection query)
# before a connection can send or read them: the arrays of the set-based
# statements, and the ledger's row type, whose records an import sends. Left
# to the first statement naming them, the lookup ran inside that statement's
# transaction, often with the tenant's ledger head locked (the change feed's
# arrays are written under it): 10–30 ms on PostgreSQL, 0.6–0.8 s on a Citus
# 13.2 coordinator, where six writers of one tenant on a freshly started
# server made 16 consent changes in 3 s. Each new pooled connection looks
# them all up at once, before it serves anyone (`_prepare_connection`).
WARMED_TYPES = ("uuid[]", "bigint[]", "integer[]", "timestamptz[]", "numeric[]", "text[]")
LEDGER_ROWS = "consent_event[]"  # (no such type before the first migration)


async def _prepare_connection(connection: Any) -> None:
    """Pool `init`, once per new connection: one statement naming every type
    of WARMED_TYPES (and LEDGER_ROWS once it exists) is prepared, which makes
    asyncpg look them up in one query; then the test hook, if set."""
    types = list(WARMED_TYPES)
    if await connection.fetchval("SELECT to_regtype($1) IS NOT NULL", LEDGER_ROWS):
        types.append(LEDGER_ROWS)
    await connection.prepare("SELECT " + ", ".join(f"${n}::{t}" for n, t in enumerate(types, 1)))
    recorder = statement_recorder
    if recorder is not None:
        connection.add_query_logger(lambda logged: recorder(logged.query, logged.args))


async def start(engine: Engine | None = None, max_size: int = 20) -> None:
    engine = engine or get_engine()
    if isinstance(engine, PostgresEngine):
        if engine.pool is not None:  # started already: start() may be called again
            return
        await engine.start_connection_pool(
            min_size=1, max_size=max_size, reset=_no_reset, init=_prepare_connection,
        )
        async with engine.pool.acquire() as conn:
            _citus[id(engine)] = bool(await conn.fetchval(CITUS_INSTALLED))
    elif isinstance(engine, SQLiteEngine):
        # WAL lets readers run beside the one writer; the setting persists in the file.
        await engine.run_ddl("PRAGMA journal_mode=WAL")
        _sqlite_idle.setdefault(id(engine), _SqliteIdle(engine))


@contextlib.asynccontextmanager
async def listening(channel: str, notified: Callable[[], None]) -> Any:
    """PostgreSQL: `notified()` on every NOTIFY on `channel`, on a connection
    of its own (a LISTEN lives as long as its connection, never a pooled one).
    Yields an event set when that connection is lost (the caller listens
    again). Connection errors are the caller's."""
    engine = get_engine()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("LISTEN is PostgreSQL's")
    lost = asyncio.Event()
    conn = await engine.get_new_connection()
    try:
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(channel, lambda *_: notified())
        yield lost
    finally:
        try:
            await asyncio.wait_for(conn.close(), timeout=5)  # (a closed one: nothing to do)
        except Exception:
            conn.terminate()


async def stop(engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()
    # Every engine's kept SQLite connections, not only this one's: their
    # threads would keep the process from exiting (a command may have
    # switched engines since it started).
    while _sqlite_idle:
        await _sqlite_idle.popitem()[1].close()


# --- SQL text ---------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w*)\}")


@lru_cache(maxsize=1024)
def compile_sql(text: str, engine_type: str) -> str:
    """`{}` placeholders as `$n` (asyncpg) or `?` (sqlite3), in order."""
    return _compile(text, engine_type)[0]


@lru_cache(maxsize=1024)
def _compile(text: str, engine_type: str) -> tuple[str, tuple[str, ...]]:
    """The statement for the driver and, for `{name}` placeholders, the names
    in the order the driver takes its values (`$n` numbers each name once;
    sqlite3's `?` takes one value per occurrence). A statement uses one kind."""
    names: list[str] = []

    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        if name and name in names and engine_type == "postgres":
            return f"${names.index(name) + 1}"
        names.append(name)
        return f"${len(names)}" if engine_type == "postgres" else "?"

    query = _PLACEHOLDER.sub(placeholder, text)
    if any(names) and not all(names):
        raise ValueError("a statement uses either {} or {name} placeholders, not both")
    return query, tuple(names) if any(names) else ()


def _statement(text: str, args: Sequence[Any], named: dict[str, Any],
               engine_type: str) -> tuple[str, Sequence[Any]]:
    query, names = _compile(text, engine_type)
    if not names:
        return query, args
    if args:
        raise ValueError("named placeholders take their values by name")
    return query, [named[name] for name in names]


async def fetch(text: str, /, *args: Any, **named: Any) -> list[Any]:
    """Rows as mappings (asyncpg Records or dicts): `row["column"]`, their
    values decoded once (optinbase.rows: UUID, datetime, JSON as dict/list).
    Values go positionally for `{}` placeholders, or by name for `{name}`
    ones (statements with more than a few values: readable, and one value
    may serve twice)."""
    engine = get_engine()
    query, values = _statement(text, args, named, engine.engine_type)
    return rows.decode(await _fetch(engine, query, values), engine.engine_type)


async def fetch_undecoded(text: str, *args: Any) -> list[Any]:
    """Rows as the driver hands them over (JSON as text, SQLite expressions as
    text): for streams that write values straight back out as text — an
    export of a million rows would otherwise decode and re-encode each one."""
    engine = get_engine()
    return await _fetch(engine, compile_sql(text, engine.engine_type), args)


async def _fetch(engine: Engine, query: str, args: Sequence[Any]) -> list[Any]:
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
    # aiosqlite runs each call in the connection's thread, and every call is
    # a hand-over there and back: one call executes and fetches (a cursor's
    # execute, fetchall and close would be three).
    if tx is not None:
        return list(await tx.connection.execute_fetchall(query, args))
    connection = await engine.get_connection()
    try:
        found = list(await connection.execute_fetchall(query, args))
        await connection.commit()
        return found
    finally:
        await connection.close()


async def fetchrow(text: str, /, *args: Any, **named: Any) -> Any | None:
    found = await fetch(text, *args, **named)
    return found[0] if found else None


async def fetchval(text: str, /, *args: Any, **named: Any) -> Any:
    row = await fetchrow(text, *args, **named)
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def execute(text: str, /, *args: Any, **named: Any) -> None:
    await fetch(text, *args, **named)


async def affected(text: str, /, *args: Any) -> int:
    """How many rows a PostgreSQL statement wrote (its command tag, `INSERT 0
    2500`), in the current transaction: a bulk INSERT … ON CONFLICT whose
    every row must go in is checked without sending the rows back (a
    RETURNING column, fetched and decoded only to be counted)."""
    engine = get_engine()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("command tags are read on PostgreSQL only")
    status = await _transaction_connection(engine).execute(
        compile_sql(text, engine.engine_type), *args)
    return int(status.rsplit(" ", 1)[-1])


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


@contextlib.asynccontextmanager
async def exclusive(name: str) -> Any:
    """`async with db.exclusive(name) as held:` a lock on `name` for the
    block, across processes and hosts: on PostgreSQL a session-level advisory
    lock (coordinator-local on Citus), on a connection of its own so that no
    transaction of the block carries it, and so that it ends with the block —
    or with the process, the server dropping it with the connection. Never
    waits: `held` says whether it was taken. SQLite: always taken (its one
    writer at a time is the lock)."""
    engine = get_engine()
    if not isinstance(engine, PostgresEngine):
        yield True
        return
    connection = await engine.get_new_connection()
    try:
        yield bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(name)))
    finally:
        try:  # closing the session ends the lock
            await asyncio.wait_for(connection.close(), timeout=5)
        except Exception:
            connection.terminate()


async def hold(name: str) -> None:
    """Takes the lock `name` until the current transaction ends (PostgreSQL:
    a transaction-level advisory lock; SQLite: nothing, one writer at a time).
    Another transaction waits for that end with `wait_for(name)`."""
    if is_postgres():
        await execute("SELECT pg_advisory_xact_lock({})", _lock_key(name))


async def wait_for(name: str) -> None:
    """Waits until no transaction `hold`s `name` (PostgreSQL). A wait in the
    database rather than in Python: PostgreSQL's deadlock detector sees it
    beside the row locks, where a cycle through it would otherwise hang."""
    if is_postgres():
        await execute("SELECT pg_advisory_xact_lock_shared({})", _lock_key(name))


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


# A bigint advisory lock as pg_locks shows it: its high and low 32 bits, subid 1.
_HELD = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
         " AND classid = {}::bigint::oid AND objid = {}::bigint::oid AND objsubid = 1"
         " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))")


async def held(name: str) -> bool:
    """Whether some session holds `exclusive(name)` now (PostgreSQL; read
    from pg_locks, taking nothing). SQLite: never."""
    if not is_postgres():
        return False
    key = _lock_key(name) & 0xFFFFFFFFFFFFFFFF
    return bool(await fetchval(_HELD, key >> 32, key & 0xFFFFFFFF))


def row_lock(skip_locked: bool = False) -> str:
    """What ends a SELECT that locks its rows until the transaction ends: on
    PostgreSQL `FOR UPDATE` (`SKIP LOCKED`: rows another transaction holds are
    passed by); nothing on SQLite, whose writers hold the whole file."""
    if not is_postgres():
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


# --- what the database said, in the domain's words ----------------------------

try:  # asyncpg is only needed on PostgreSQL
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None


def domain_error_of(exc: BaseException) -> Optional[DomainError]:
    """The answer the walls promise for a database refusal: a unique key is a
    conflict, a foreign key or a row-level-security refusal is "not found"
    (another tenant's object reads as a missing one), a database that cannot
    be reached is "unavailable" (retry). None: not a database refusal."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in text:
            return Conflict("an object with this identifier already exists")
        if "FOREIGN KEY" in text or "same tenant" in text:
            return NotFound("a referenced object was not found")
        return Conflict(text)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return Unavailable("the database is busy; try again shortly")
    if asyncpg is not None:
        if isinstance(exc, asyncpg.UniqueViolationError):
            return Conflict("an object with this identifier already exists")
        if isinstance(exc, asyncpg.ForeignKeyViolationError):
            return NotFound("a referenced object was not found")
        if isinstance(exc, asyncpg.InsufficientPrivilegeError):
            return NotFound("not found")  # row-level security refused the row
        if isinstance(exc, asyncpg.CheckViolationError):
            return Forbidden(text.split("\n")[0])
        if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                            asyncpg.AdminShutdownError, asyncpg.TooManyConnectionsError)) or (
                isinstance(exc, asyncpg.InterfaceError) and "connection" in text
                and ("closed" in text or "released back to the pool" in text)):
            return Unavailable("the database cannot be reached; try again shortly")
        if isinstance(exc, asyncpg.InternalClientError) and "another operation" in text:
            # A connection the server cut mid-exchange (a fast shutdown sends its
            # FATAL between two statements): asyncpg's protocol is left half-way.
            # Logged, since a real misuse of one connection by two tasks reads the same.
            logger.warning("database connection left unusable: %s", text)
            return Unavailable("the database cannot be reached; try again shortly")
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return Unavailable("the database cannot be reached; try again shortly")
    return None


# --- transactions ------------------------------------------------------------

# Values of row-level-security settings are ids we resolved ourselves (uuids,
# uuid lists, key ids, worker names): they are written into the BEGIN statement
# (one round trip; SET LOCAL takes no bind parameter), so they must match this.
_SETTING_VALUE = re.compile(r"[0-9A-Za-z_{},:-]{0,1048576}")  # a superuser admits every tenant

# Tenants a multi-tenant (staff) transaction may narrow to; None elsewhere.
_admits: contextvars.ContextVar[Optional[frozenset]] = contextvars.ContextVar(
    "optinbase_admits", default=None
)

_citus: dict[int, bool] = {}  # id(engine) -> whether it is a Citus coordinator


_SETTING_NAME = re.compile(r"[a-z_]+\.[a-z_]+")


def _check_settings(settings: dict[str, str]) -> None:
    for name, value in settings.items():
        if not _SETTING_NAME.fullmatch(name) or not _SETTING_VALUE.fullmatch(value):
            raise ValueError(f"refused setting {name}")


@lru_cache(maxsize=4096)
def _checked(settings: tuple[tuple[str, str], ...]) -> None:
    """`_check_settings`, once per distinct settings: a tenant's are the same
    on every request, which opens a transaction each (a refusal raises, and
    is not cached)."""
    _check_settings(dict(settings))


@lru_cache(maxsize=4096)
def begin_messages(settings: tuple[tuple[str, str], ...], read_only: bool, snapshot: bool,
                   citus: bool) -> tuple[str, ...]:
    """BEGIN and the settings, as the simple-protocol messages to send: one
    round trip, written once per tenant and kind of transaction rather than
    on every request. Two on Citus: it replays the whole message of a `SET
    LOCAL` on each worker it propagates to — a BEGIN in it too, which every
    worker answered with "there is already a transaction in progress", a
    notice that cut the first line off a `COPY … TO STDOUT` export."""
    begin = ("BEGIN" + (" ISOLATION LEVEL REPEATABLE READ" if snapshot else "")
             + (" READ ONLY" if read_only else ""))
    sets = settings_sql(dict(settings), citus)
    if citus:
        return begin, sets
    return (f"{begin}; {sets}" if sets else begin,)


_UNQUOTABLE = re.compile(r"['\\]")


def settings_sql(settings: dict[str, str], citus: bool) -> str:
    """Statements (joined by "; ", none when nothing is to be set) that set
    transaction-local settings. On Citus a `set_config`
    stays on the coordinator, so row-level security on the shards would see no
    tenant; `SET LOCAL` with `citus.propagate_set_commands = 'local'` reaches
    them (in a message without BEGIN: `begin_messages`). Elsewhere one
    `SELECT set_config(...)` does it. The values are written into the text
    (a simple-protocol message takes no parameters): ids and key ids, which
    never hold a quote; one that does is refused, not quoted."""
    if any(_UNQUOTABLE.search(f"{name}{value}") for name, value in settings.items()):
        raise ValueError("a transaction setting may not hold quotes or backslashes")
    if citus:
        return "; ".join(f"SET LOCAL {name} = '{value}'" for name, value in
                         {"citus.propagate_set_commands": "local", **settings}.items())
    if not settings:
        return ""
    return "SELECT " + ", ".join(
        f"set_config('{name}', '{value}', true)" for name, value in settings.items())


class _PgTransaction:
    """A pooled connection in one transaction, its settings made in the same
    round trip as BEGIN (simple protocol, several statements). Registered as
    Piccolo's current transaction: ORM queries inside join it. Lighter than
    Piccolo's PostgresTransaction (no asyncpg Transaction object): this runs
    for every request. Settings end with the transaction, so a pooled
    connection never carries one on."""

    __slots__ = ("engine", "begin", "connection", "context", "read_only")

    def __init__(self, engine: PostgresEngine, settings: dict[str, str], read_only: bool,
                 snapshot: bool = False):
        self.engine, self.read_only = engine, read_only
        self.begin = begin_messages(tuple(settings.items()), read_only, snapshot,
                                    is_citus(engine))

    async def __aenter__(self) -> "_PgTransaction":
        pool = self.engine.pool
        self.connection = await (pool.acquire() if pool else self.engine.get_new_connection())
        try:
            for message in self.begin:
                await self.connection.execute(message)
        except BaseException:
            if len(self.begin) > 1:  # (Citus) a BEGIN that went through: not pooled as it is
                with contextlib.suppress(Exception):
                    self.connection.terminate()
            await self._release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.connection.is_closed() and self.connection.is_in_transaction():
                await self.connection.execute("ROLLBACK" if exc_type else "COMMIT")
        except Exception as failure:
            # A connection the server cut (a restart) cannot end the transaction,
            # and need not: the server ends it with the connection. Only a write's
            # COMMIT failing is the caller's to know (its outcome is unknown); a
            # rollback, or the end of a read-only transaction, going wrong does
            # not replace the answer already decided (an error, or what was read).
            with contextlib.suppress(Exception):  # (the pool may have let it go already)
                self.connection.terminate()
            if not (exc_type or self.read_only):
                raise
            logger.warning("transaction end failed on a lost connection: %s", failure)
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._release()

    async def _release(self) -> None:
        if self.engine.pool is not None:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()


# Connections whose opening or ending a cancelled task left to finish on their
# own (kept referenced until closed: the event loop holds tasks weakly).
_finishing: set[asyncio.Task] = set()


def _in_background(work: Any) -> asyncio.Task:
    task = asyncio.ensure_future(work)
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    return task


class _SqliteIdle:
    """Connections of one SQLite database kept open between its transactions,
    from `start()` to `stop()` (which closes them: their threads would keep
    the process from exiting). Opening one (a thread, the file, its
    settings) costs ~1.3 ms and a transaction on an open one ~0.1 ms:
    without this, every request of an embedded deployment paid the
    difference. A connection comes back only from a transaction that ended
    cleanly (committed or rolled back, never cancelled half-way); those kept
    before a fork stay behind (their threads did)."""

    KEEP = 4  # SQLite has one writer at a time: a few readers beside it

    def __init__(self, engine: SQLiteEngine):
        self.engine = engine  # (kept alive with it: its id, the key, is not reused meanwhile)
        self.idle: list[Any] = []
        self.pid = os.getpid()

    async def take(self) -> Any:
        if self.pid != os.getpid():  # a forked child: the connections' threads stayed behind
            self.idle, self.pid = [], os.getpid()
        if self.idle:
            return self.idle.pop()
        return await self.engine.get_connection()  # Piccolo's: foreign keys on, rows as dicts

    async def give_back(self, connection: Any) -> None:
        if len(self.idle) < self.KEEP and self.pid == os.getpid():
            self.idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            await connection.close()


_sqlite_idle: dict[int, _SqliteIdle] = {}  # id(engine) -> its idle connections


_IMMEDIATE = f"BEGIN {TransactionType.immediate.value}"
_BEGIN_AGAIN_SECONDS = 0.005


async def _begin_immediate(connection: Any, engine: SQLiteEngine) -> None:
    """BEGIN IMMEDIATE, asked again every 5 ms while another connection writes,
    for as long as the engine's busy timeout. SQLite's own busy handler waits
    longer and longer between its tries, 100 ms from the twelfth on, and a
    long writer that commits often leaves short gaps: an import's chunks on
    SQLite are apart by the validation of the next one, a few tens of
    milliseconds, and a writer sleeping 100 ms at a time could miss them all
    and wait for the whole file. (The handler stays on for every other
    statement: only the opening of a write transaction polls.)"""
    timeout = float(engine.connection_kwargs.get("timeout", 5.0))
    deadline = asyncio.get_running_loop().time() + timeout
    # One call in the connection's thread per try (aiosqlite's `_execute`,
    # what its own methods use): three calls — handler off, BEGIN, handler
    # back — cost 0.26 ms more per write transaction than BEGIN alone.
    while not await connection._execute(_try_begin_immediate, connection, int(timeout * 1000)):
        if asyncio.get_running_loop().time() >= deadline:
            raise sqlite3.OperationalError("database is locked")
        await asyncio.sleep(_BEGIN_AGAIN_SECONDS)


def _try_begin_immediate(connection: Any, busy_ms: int) -> bool:
    """In the connection's thread: BEGIN IMMEDIATE without waiting; False
    when another connection holds the write lock."""
    raw = connection._conn
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        raw.execute(_IMMEDIATE)
        return True
    except sqlite3.OperationalError as failure:
        if "locked" in str(failure) or "busy" in str(failure):
            return False
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout = {busy_ms}")


class _SqliteTransaction:
    """One aiosqlite connection in one transaction, safe when its task is
    cancelled. Piccolo's SQLiteTransaction is not: aiosqlite runs each call in
    the connection's thread, and cancelling the awaiting coroutine does not
    stop the call. A BEGIN IMMEDIATE cancelled while it waits for the write
    lock takes the lock a moment later, in its thread, on a connection nobody
    closes: every writer of every tenant then reads "database is locked". So
    the opening (a kept connection or a new one, BEGIN) and the ending
    (COMMIT or ROLLBACK, then the connection kept or closed) each run as a
    task of their own that a cancellation does not interrupt; a cancelled
    opening closes the connection it opened once it has.
    Registered as Piccolo's current transaction: ORM queries inside join it."""

    __slots__ = ("engine", "begin", "connection", "context", "idle")

    def __init__(self, engine: SQLiteEngine, kind: TransactionType):
        self.engine = engine
        self.begin = f"BEGIN {kind.value}"
        self.idle = _sqlite_idle.get(id(engine))  # None: not started, nothing kept

    async def __aenter__(self) -> "_SqliteTransaction":
        opening = _in_background(self._open())
        try:
            self.connection = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(self._close_opened)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _open(self) -> Any:
        connection = await (self.idle.take() if self.idle is not None else
                            self.engine.get_connection())
        try:
            if self.begin == _IMMEDIATE:
                await _begin_immediate(connection, self.engine)
            else:
                await connection.execute(self.begin)
        except BaseException:
            await connection.close()
            raise
        return connection

    @staticmethod
    def _close_opened(opening: asyncio.Task) -> None:
        if not opening.cancelled() and opening.exception() is None:
            _in_background(opening.result().close())  # closing ends the transaction

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            await asyncio.shield(_in_background(self._end(commit=exc_type is None)))
        finally:
            self.engine.current_transaction.reset(self.context)

    async def _end(self, commit: bool) -> None:
        try:
            await self.connection.execute("COMMIT" if commit else "ROLLBACK")
        except BaseException:
            await self.connection.close()  # closing rolls back whatever is left
            raise
        if self.idle is not None:
            await self.idle.give_back(self.connection)
        else:
            await self.connection.close()


class transaction:
    """The transaction primitive under every entry point; only the envelope
    (`tenants.envelope`) opens one. `settings` are the row-level-security
    settings (`app.tenant_id`, ...), `tenant_id` the tenant the data layer's
    guard (`require_tenant`) accepts, `admits` the tenants a staff transaction
    may narrow to. `write=False` runs READ ONLY on PostgreSQL (unless
    `read_only=False`: it may still write a little) and takes SQLite's write
    lock only when it first writes. `snapshot=True`: every statement reads one
    snapshot (REPEATABLE READ on PostgreSQL; a SQLite transaction always does),
    what a check comparing several statements needs (the ledger's verify).

    Nested use for the same tenant joins the outer transaction; work queued
    with `after_commit` runs once the outermost one has committed.
    """

    __slots__ = ("settings", "tenant_id", "admits", "write", "read_only", "snapshot", "_inner",
                 "_tokens")

    def __init__(self, settings: dict[str, str], *, write: bool,
                 tenant_id: Optional[uuid.UUID] = None, admits: Optional[frozenset] = None,
                 read_only: Optional[bool] = None, snapshot: bool = False):
        if tenant_id is not None and not isinstance(tenant_id, uuid.UUID):
            raise TypeError("tenant ids must be uuid.UUID")
        _checked(tuple(settings.items()))
        self.settings, self.tenant_id, self.admits, self.write = settings, tenant_id, admits, write
        self.read_only = (not write) if read_only is None else read_only
        self.snapshot = snapshot
        self._inner: Any = None

    async def __aenter__(self) -> None:
        engine = get_engine()
        if engine.current_transaction.get() is not None:
            if current_tenant.get() != self.tenant_id:
                raise RuntimeError("nested transaction for another tenant")
            if not self.read_only and not _writable.get():
                # Would fail on PostgreSQL only (READ ONLY): refuse on every engine.
                raise RuntimeError("a write transaction cannot join a read-only one")
            if self.snapshot and not _snapshot.get():
                raise RuntimeError("a snapshot read cannot join a transaction that is not one")
            return
        if isinstance(engine, PostgresEngine):
            self._inner = _PgTransaction(engine, self.settings, read_only=self.read_only,
                                         snapshot=self.snapshot)
        else:
            kind = TransactionType.immediate if self.write else TransactionType.deferred
            self._inner = _SqliteTransaction(engine, kind)
        await self._inner.__aenter__()
        # A SQLite transaction reads one snapshot whatever it was asked for: in
        # WAL mode from its first read on, and a writer holds the file.
        self._tokens = (current_tenant.set(self.tenant_id), _after_commit.set([]),
                        _writable.set(not self.read_only), _admits.set(self.admits),
                        _snapshot.set(self.snapshot or not isinstance(engine, PostgresEngine)))

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._inner is None:
            return
        jobs = _after_commit.get() or []
        for var, token in zip((current_tenant, _after_commit, _writable, _admits, _snapshot),
                              self._tokens):
            var.reset(token)
        inner, self._inner = self._inner, None
        await inner.__aexit__(exc_type, exc, tb)
        if exc_type is None:
            for job in jobs:
                await job()


def tenant_transaction(tenant_id: uuid.UUID, *, write: bool = True,
                       snapshot: bool = False) -> transaction:
    """A tenant's transaction with nobody acting: for tests' set-up and
    benchmarks. The application's entry points go through `tenants.envelope`
    (a test checks that nothing under src/ calls this)."""
    return transaction({"app.tenant_id": str(tenant_id)}, write=write, tenant_id=tenant_id,
                       snapshot=snapshot)


def across_tenants() -> Any:
    """Where to call the owner's functions that look across tenants by
    setting each in turn (`optinbase_outbox_due`, `optinbase_ops_gauges`):
    on Citus a transaction with no tenant (the application role sees no
    tenant's rows in it), because Citus carries a `SET LOCAL` made inside a
    function to the shards only inside a transaction block — in autocommit
    those functions counted nothing there. Elsewhere the statement's own
    transaction does, and this adds no round trip."""
    return transaction({}, write=False) if is_citus() else contextlib.nullcontext()


class narrowed:
    """Inside a staff transaction (several tenants visible), run a block as one
    of them: the data layer's guard accepts that tenant, and on PostgreSQL
    row-level security sees that tenant alone until the block ends."""

    __slots__ = ("tenant_id", "_token", "_previous")

    def __init__(self, tenant_id: uuid.UUID):
        self.tenant_id = tenant_id

    async def __aenter__(self) -> None:
        admits = _admits.get()
        if admits is None or self.tenant_id not in admits:
            raise RuntimeError("narrowing to a tenant this transaction does not admit")
        self._previous = current_tenant.get()
        await self._set({"app.tenant_ids": "", "app.tenant_id": str(self.tenant_id)})
        self._token = current_tenant.set(self.tenant_id)

    async def __aexit__(self, *exc: Any) -> None:
        current_tenant.reset(self._token)
        if not exc[0]:
            ids = _admits.get() or frozenset()
            single = next(iter(ids)) if len(ids) == 1 else ""
            await self._set({"app.tenant_ids": "{" + ",".join(map(str, sorted(ids, key=str))) + "}"
                             if ids else "", "app.tenant_id": str(single)})

    @staticmethod
    async def _set(settings: dict[str, str]) -> None:
        _check_settings(settings)
        engine = get_engine()
        if isinstance(engine, PostgresEngine):
            await _transaction_connection(engine).execute(
                settings_sql(settings, is_citus(engine)))


def writable() -> bool:
    """Whether the transaction in progress may write (GET requests run read-only)."""
    return _writable.get()


def in_transaction() -> bool:
    return get_engine().current_transaction.get() is not None


def require_snapshot() -> None:
    """Guard for checks that read several statements and compare them: at READ
    COMMITTED each statement sees the commits made since the one before."""
    if not in_transaction() or not _snapshot.get():
        raise RuntimeError("this check must run in one snapshot (envelope.tenant(snapshot=True))")


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
