"""Import benchmark: N contacts with one consent each, through `consent.imports`
(the code `POST /v1/imports` and `optinbase import` run: chunk by chunk, each
committed), beside a raw COPY of the same file into a plain table and the
schema's floor, measured in the same run. With `--unsubscribe-url` (a real
server on the same database), people of the same tenant unsubscribe with one
click during the import (bench/unsubscribes.py, its own process, 10 a second)
and before it (the idle anchor): their latencies say whether the import blocks
the tenant.

Runs as the application role (DATABASE_URL; RLS forced). The anchor table is
made by the owner role (DATABASE_OWNER_URL): the application role owns nothing.
Prints one JSON line (the summary) on stdout; progress goes to stderr.

    python bench/imports.py --tenant SLUG --rows 1000000 [--unsubscribe-url URL] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import urlparse

HEADER = (
    "email,first_name,last_name,country,postal_code,birth_year,gender,language,"
    "consent_channel,consent_purpose,notice_id,collected_at,source,ip,method\n"
)
COUNTRIES = ("FR", "BE", "DE", "ES", "IT", "NL", "CH", "LU")
PURPOSE = "newsletter"
UNSUBSCRIBERS = 2_000  # imported before the measured import, to unsubscribe during it
IDLE_UNSUBSCRIBES = 100
UNSUBSCRIBE_RATE = 10.0  # a second


def make_csv(rows: int, notice_id: uuid.UUID, offset: int = 0) -> bytes:
    """A realistic file: typed demographics and the proof of one e-mail grant each."""
    base = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    out = [HEADER]
    for i in range(offset, offset + rows):
        collected = (base + dt.timedelta(seconds=i * 7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(
            f"i{i:07d}@example.com,Anne{i % 997},Martin{i % 991},{COUNTRIES[i % 8]},"
            f"{75000 + i % 1000:05d},{1950 + i % 55},{'fm'[i % 2]},fr,email,{PURPOSE},"
            f"{notice_id},{collected},https://shop.example/signup,192.0.2.{i % 250 + 1},web_form\n"
        )
    return "".join(out).encode()


def _log(message: str) -> None:
    print(f"[bench imports {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _catalog(ctx) -> uuid.UUID:
    """The purpose and an e-mail notice, through the services the API uses."""
    from consent import notices, purposes
    from consent.schemas import NoticeIn, PurposeIn
    from optinbase import db

    async with db.tenant_transaction(ctx.tenant_id):
        if await purposes.find_purpose(ctx, PURPOSE) is None:
            await purposes.create_purpose(ctx, PurposeIn(key=PURPOSE, name="Newsletter"))
        notice = await notices.create_notice(ctx, NoticeIn(
            purpose=PURPOSE, channels=["email"], language="fr",
            text="Je souhaite recevoir la newsletter.",
        ))
    return notice.id


async def _anchor(body: bytes) -> float:
    """Raw COPY of the same bytes into a plain table (owner role, no index)."""
    import asyncpg

    conn = await asyncpg.connect(os.environ["DATABASE_OWNER_URL"])
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_import_copy")
        columns = HEADER.strip().split(",")
        await conn.execute(
            "CREATE TABLE bench_import_copy (" + ", ".join(f"{c} text" for c in columns) + ")"
        )
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_to_table(
                "bench_import_copy", source=io.BytesIO(body), format="csv", header=True,
            )
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_import_copy")
        return elapsed
    finally:
        await conn.close()



# A version 7 UUID (optinbase.ids.uuid7s) in SQL, for PostgreSQL < 18: the Unix
# time in milliseconds over the first 48 bits of a random UUID, version 4 → 7.
UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing"
    " substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)"
    " FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
)


async def _backends(tenant_id: uuid.UUID, count: int) -> set[int]:
    """The process ids of the pool's `count` connections (all of them open at
    once, so that the pool holds that many)."""
    from optinbase import db

    async def pid() -> int:
        async with db.tenant_transaction(tenant_id, write=False):
            found = await db.fetchval("SELECT pg_backend_pid()")
            await asyncio.sleep(0.05)
            return found

    return set(await asyncio.gather(*(pid() for _ in range(count))))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local process (the PostgreSQL backend)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


FEED = "change_log"  # the floor's table that came with the change feed (GET /v1/changes)


def floor_tables() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """(table, columns, staging table) of the four tables an import writes: a
    contact, its consent's ledger event and state, and the change feed's
    entry that says so."""
    from consent.changes import COLUMNS as CHANGE_COLUMNS
    from consent.imports.write import CONTACT_COLUMNS, STATE_COLUMNS
    from consent.ledger.chain import EVENT_COLUMNS

    return (("contact", CONTACT_COLUMNS, "f_contact"), ("consent_event", EVENT_COLUMNS, "f_event"),
            ("consent_state", STATE_COLUMNS, "f_state"), (FEED, CHANGE_COLUMNS, "f_change"))


async def stage_floor_rows(conn) -> None:
    """The tenant's imported rows (the transaction's `app.tenant_id`) copied
    under new time-ordered ids into temporary tables f_contact, f_event and
    f_state and f_change, in id order: what the floor INSERTs."""
    ((_, CONTACT_COLUMNS, _), (_, EVENT_COLUMNS, _), (_, STATE_COLUMNS, _),
     (_, CHANGE_COLUMNS, _)) = floor_tables()

    def copy_of(columns: tuple[str, ...], replaced: dict[str, str], alias: str) -> str:
        return ", ".join(f"{replaced[c]} AS {c}" if c in replaced else f"{alias}.{c}" for c in columns)

    await conn.execute(f"CREATE TEMP TABLE f_map AS SELECT id AS old, {UUID7_SQL} AS new"
                       " FROM contact")  # heap order: the order of the import
    # Without statistics the planner took f_map for a tiny table once the
    # tenant's had been analysed, and building f_event took minutes.
    await conn.execute("ANALYZE f_map")
    await conn.execute("CREATE TEMP TABLE f_contact AS SELECT " + copy_of(
        CONTACT_COLUMNS, {"id": "m.new", "email": "'f' || c.email"}, "c")
        + " FROM contact c JOIN f_map m ON m.old = c.id ORDER BY m.new")
    # Volatile output columns are computed after the sort: ids in row order.
    await conn.execute("CREATE TEMP TABLE f_event AS SELECT e.id AS old_id, " + copy_of(
        EVENT_COLUMNS, {"id": UUID7_SQL, "seq": "e.seq + 1000000000",
                        "contact_id": "m.new"}, "e")
        + " FROM consent_event e JOIN f_map m ON m.old = e.contact_id ORDER BY e.seq")
    await conn.execute("CREATE TEMP TABLE f_state AS SELECT " + copy_of(
        STATE_COLUMNS, {"id": UUID7_SQL, "contact_id": "m.new", "event_id": "f.id"}, "s")
        + " FROM consent_state s JOIN f_map m ON m.old = s.contact_id"
        " JOIN f_event f ON f.old_id = s.event_id ORDER BY f.seq")
    await conn.execute("CREATE TEMP TABLE f_change AS SELECT " + copy_of(
        CHANGE_COLUMNS, {"id": UUID7_SQL, "seq": "c.seq + 1000000000", "contact_id": "m.new",
                         "event_id": "f.id"}, "c")
        + " FROM change_log c JOIN f_map m ON m.old = c.contact_id"
        " JOIN f_event f ON f.old_id = c.event_id ORDER BY c.seq")
    await conn.execute("ANALYZE f_contact; ANALYZE f_event; ANALYZE f_state; ANALYZE f_change")


async def insert_floor(conn, prefix: str = "") -> dict[str, float]:
    """Seconds of each INSERT … SELECT of the staged rows, by table (into
    `prefix`-named tables: "" for the real ones). Every foreign key is checked
    by its statement (`SET CONSTRAINTS ALL IMMEDIATE`): a deferred one would
    be checked at a commit that never comes, the floor being rolled back."""
    await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    elapsed = {}
    for table, columns, stage in floor_tables():
        names = ", ".join(columns)
        started = time.perf_counter()
        await conn.execute(f"INSERT INTO {prefix}{table} ({names}) SELECT {names} FROM {stage}")
        elapsed[table] = time.perf_counter() - started
    return elapsed


async def _floor(tenant_id: uuid.UUID) -> tuple[dict[str, float], float, int]:
    """The database's share alone: the rows just imported, copied under new ids
    into temporary tables, then INSERT … SELECT into contact, consent_event,
    consent_state and change_log (what the import's set-based statements do,
    with the same indexes, foreign keys and RLS checks), as the application
    role, rolled back. Only the four INSERTs are timed (seconds by table;
    every foreign key checked by its statement, `insert_floor`). This is the floor for any import through this schema on this machine,
    whatever the Python does. The new ids are time-ordered (version 7) and the
    rows are inserted in their order, as the import draws and writes them.

    Second figure, the *bare model*: the same INSERTs into four plain tables
    shaped like those with a primary key and nothing else (no other index, no
    foreign key, no RLS). No import that writes the rows of this data model
    can be faster on this machine.

    Third figure: how many contacts that was (the tenant's, the unsubscribers
    imported before the measured import included): rows/s are counted on it."""
    import asyncpg

    tables = floor_tables()
    app_role = urlparse(os.environ["DATABASE_URL"]).username
    owner = await asyncpg.connect(os.environ["DATABASE_OWNER_URL"])
    for table, _, _ in tables:
        await owner.execute(f"DROP TABLE IF EXISTS bare_{table}; CREATE TABLE bare_{table}"
                            f" (LIKE {table} INCLUDING DEFAULTS, PRIMARY KEY (id));"
                            f" GRANT INSERT ON bare_{table} TO {app_role}")
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await conn.execute(f"BEGIN; SELECT set_config('app.tenant_id', '{tenant_id}', true)")
        await stage_floor_rows(conn)
        await conn.execute("SAVEPOINT floor")
        elapsed = {}
        for prefix in ("", "bare_"):  # the schema, then the bare model
            elapsed[prefix] = await insert_floor(conn, prefix)
            await conn.execute("ROLLBACK TO SAVEPOINT floor")
        rows = await conn.fetchval("SELECT count(*) FROM f_contact")
        await conn.execute("ROLLBACK")
        return elapsed[""], sum(elapsed["bare_"].values()), rows
    finally:
        await conn.close()
        for table, _, _ in tables:
            await owner.execute(f"DROP TABLE IF EXISTS bare_{table}")
        await owner.close()


def _percentile(values: list[float], share: float) -> float:
    """Nearest rank: the value `share` of the samples are at or under."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


async def _unsubscribers(ctx, notice_id: uuid.UUID, rows: int, folder: str) -> tuple[str, str]:
    """UNSUBSCRIBERS people of the tenant with an e-mail grant each (a small
    import before the measured one) and their one-click links, in two files:
    the idle anchor's and the ones for during the import."""
    from consent import tokens
    from consent.imports import jobs, parse
    from optinbase import db
    from optinbase.settings import get_settings

    body = make_csv(UNSUBSCRIBERS, notice_id, offset=rows)
    await jobs.import_file(ctx, parse.scan(body, "csv"), jobs.digest(body))
    async with db.tenant_transaction(ctx.tenant_id, write=False):
        purpose = await db.fetchval("SELECT id FROM purpose WHERE tenant_id = {} AND key = {}",
                                    ctx.tenant_id, PURPOSE)
        people = [r["id"] for r in await db.fetch(
            "SELECT id FROM contact WHERE tenant_id = {} ORDER BY id", ctx.tenant_id)]
    secret = get_settings().secret_key
    links = [tokens.make_token(secret, ctx.tenant_id, p, purpose, "email") for p in people]
    idle, during = os.path.join(folder, "idle"), os.path.join(folder, "during")
    for path, part in ((idle, links[:IDLE_UNSUBSCRIBES]), (during, links[IDLE_UNSUBSCRIBES:])):
        with open(path, "w") as out:
            out.write("\n".join(part) + "\n")
    return idle, during


def _unsubscribing(url: str, links: str, count: int = 0) -> subprocess.Popen:
    """The unsubscriber, writing its results to `links` + ".json" (a file: a
    million-row import's thousands of results overflow a pipe's buffer)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unsubscribes.py")
    return subprocess.Popen([sys.executable, script, "--url", url, "--tokens", links,
                             "--rate", str(UNSUBSCRIBE_RATE), "--count", str(count),
                             "--out", links + ".json"])


def _timed(process: subprocess.Popen, window: tuple[float, float] | None = None) -> list[float]:
    """Latencies (s) of the unsubscribes `process` made (started inside `window`)."""
    process.wait(timeout=300)
    with open(process.args[process.args.index("--out") + 1]) as results:
        done = json.load(results)
    bad = [status for _, _, status in done if status != 200]
    if bad:
        raise SystemExit(f"unsubscribes answered {bad[:5]}")
    return [took for started, took, _ in done
            if window is None or window[0] <= started <= window[1]]


GROWN = ("contact", "consent_state", "consent_event", "change_log")  # the tables an import grows
# Which of them autovacuum would analyse now: rows changed since their last
# analyse above its threshold (autovacuum_analyze_threshold + _scale_factor ×
# rows; the server's own settings, read whether or not autovacuum is on).
_DUE = (
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.relname = ANY($1::text[]) AND s.n_mod_since_analyze >"
    " current_setting('autovacuum_analyze_threshold')::float8"
    " + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)"
    " ORDER BY s.relname"
)


async def _autovacuum_stand_in(once: bool = False) -> None:
    """Where the server runs with autovacuum off (this machine's shared
    PostgreSQL does), ANALYZE the tables the import grows when autovacuum's
    analyze would: once every `autovacuum_naptime` (a minute by default; the
    server's setting), each table whose rows changed since its last analyse
    past the threshold (`_DUE`: 50 rows + 10 % by default). Without fresh
    statistics the server's cached generic plans, made while the tenant was
    small, keep scanning tables that grew a hundredfold, and the run measures
    that instead of the import. Does nothing where autovacuum is on.

    Until 2026-12-03 this ANALYZEd all four tables every 15 s: four times
    autovacuum's pace, ~2 s of the server's CPU each round at a million rows
    (1.4 million contacts in the database), taken from the import's two cores
    and not from the floor's (which runs after it).

    `once`: one ANALYZE of all four now — before the measured import, as
    autovacuum would have analysed tables that the 2,000-row setup import took
    from empty to 2,000 rows. Without it, plans cached on the import's
    connection while the tables were empty (a foreign-key check's probe
    through the wrong (tenant_id, …) index) lasted through the whole first
    chunk: 20 s under the chain lock."""
    import asyncpg

    owner = await asyncpg.connect(os.environ["DATABASE_OWNER_URL"])
    try:
        if await owner.fetchval("SHOW autovacuum") == "on":
            return
        if once:
            await owner.execute(f"ANALYZE {', '.join(GROWN)}")
            return
        naptime = float(await owner.fetchval(
            "SELECT setting FROM pg_settings WHERE name = 'autovacuum_naptime'"))
        while True:
            await asyncio.sleep(naptime)
            due = [r["relname"] for r in await owner.fetch(_DUE, list(GROWN))]
            if due:
                await owner.execute(f"ANALYZE {', '.join(due)}")
                _log(f"autovacuum's stand-in: ANALYZE {', '.join(due)}")
    finally:
        await owner.close()


async def main(args: argparse.Namespace) -> dict:
    from consent.imports import jobs, parse, runner
    from consent.ledger import chain
    from optinbase import db, process
    from optinbase.context import TenantContext
    from tenants import repository

    # As many connections as the import writes chunks at once (runner.IN_FLIGHT,
    # as the command line), and its PostgreSQL CPU is theirs.
    await db.start(max_size=runner.IN_FLIGHT)
    process.started()  # as the server and the command line do once started
    folder = tempfile.mkdtemp(prefix="bench-unsubscribe-")
    unsubscribing = None
    try:
        tenant = await repository.tenant_by_slug(args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        ctx = TenantContext.for_operator(tenant, "bench-import")
        notice_id = await _catalog(ctx)
        body = make_csv(args.rows, notice_id)
        _log(f"{args.rows:,} rows, {len(body) / 1e6:.0f} MB; anchor: raw COPY into a plain table")
        anchor = await _anchor(body)
        idle_latency: list[float] = []
        if args.unsubscribe_url:
            idle_links, during_links = await _unsubscribers(ctx, notice_id, args.rows, folder)
            _log(f"{IDLE_UNSUBSCRIBES} one-click unsubscribes of the tenant, no import running")
            idle_latency = _timed(_unsubscribing(args.unsubscribe_url, idle_links,
                                                 IDLE_UNSUBSCRIBES))
            unsubscribing = _unsubscribing(args.unsubscribe_url, during_links)
        _log(f"anchor {anchor:.2f} s; ours: consent.imports (scan, validate, write, a"
             " transaction per chunk)" + (", unsubscribes going on" if unsubscribing else ""))

        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        await _autovacuum_stand_in(once=True)
        backends = await _backends(ctx.tenant_id, runner.IN_FLIGHT)
        started, wall, cpu = time.perf_counter(), time.time(), time.process_time()
        backend_cpu = sum(map(_cpu_seconds, backends))
        source = parse.scan(body, "csv")
        analyzing = asyncio.create_task(_autovacuum_stand_in())
        try:
            job_id, report, _ = await jobs.import_file(ctx, source, jobs.digest(body))
        finally:
            analyzing.cancel()
        ours = time.perf_counter() - started
        window = (wall, time.time())
        backend_cpu = sum(map(_cpu_seconds, backends)) - backend_cpu
        python_cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        during_latency: list[float] = []
        if unsubscribing is not None:
            unsubscribing.send_signal(signal.SIGTERM)
            during_latency = _timed(unsubscribing, window)
        _log(f"ours {ours:.2f} s (CPU: Python {python_cpu:.1f} s, PostgreSQL {backend_cpu:.1f} s):"
             f" {report.created:,} created, {report.updated:,} updated,"
             f" {report.rejected:,} rejected")
        if report.created != args.rows or report.rejected:
            raise SystemExit(f"import did not create {args.rows} contacts: {report.errors[:3]}")
        if during_latency:
            _log(f"{len(during_latency)} unsubscribes during the import: p50"
                 f" {_percentile(during_latency, 0.5) * 1000:.0f} ms, p99"
                 f" {_percentile(during_latency, 0.99) * 1000:.0f} ms, max"
                 f" {max(during_latency) * 1000:.0f} ms (idle p99"
                 f" {_percentile(idle_latency, 0.99) * 1000:.0f} ms)")

        reimport = None
        if args.reimport:
            # Same file again: nothing new, every row an update.
            started = time.perf_counter()
            _, again, _ = await jobs.import_file(ctx, parse.scan(body, "csv"), jobs.digest(body))
            reimport = time.perf_counter() - started
            if again.updated != args.rows or again.created:
                raise SystemExit("re-import did not update every row")

        _log("database floor: the same rows INSERT … SELECT'd from temporary tables (rolled back)")
        parts, bare, floor_rows = await _floor(ctx.tenant_id)
        floor = sum(parts.values())
        without_feed = floor - parts[FEED]  # the floor before the change feed came
        _log(f"floor {floor:.2f} s for {floor_rows:,} contacts ({floor_rows / floor:,.0f} rows/s;"
             f" {', '.join(f'{t} {s:.2f} s' for t, s in parts.items())});"
             f" bare model {bare:.2f} s ({floor_rows / bare:,.0f} rows/s)")

        async with db.tenant_transaction(ctx.tenant_id, write=False, snapshot=True):
            verified = await chain.verify(ctx.tenant_id)
        if not verified.ok:
            raise SystemExit(f"ledger verify failed: {verified.reason}")
        summary = {
            "rows": args.rows, "bytes": len(body),
            "ours_s": ours, "ours_rows_per_s": args.rows / ours,
            "anchor_s": anchor, "anchor_rows_per_s": args.rows / anchor,
            "ratio": anchor / ours, "reimport_s": reimport,
            "python_cpu_s": python_cpu, "postgres_cpu_s": backend_cpu,
            "floor_s": floor, "floor_rows": floor_rows, "floor_rows_per_s": floor_rows / floor,
            "bare_s": bare, "bare_rows_per_s": floor_rows / bare,
            "ours_over_floor": (args.rows / ours) / (floor_rows / floor),
            "floor_by_table_s": parts,
            "ours_over_floor_without_feed": (args.rows / ours) / (floor_rows / without_feed),
            "ledger_events_verified": verified.events, "job": str(job_id),
        }
        if during_latency:
            summary.update({
                "unsubscribes_during": len(during_latency),
                "unsubscribe_p50_s": _percentile(during_latency, 0.5),
                "unsubscribe_p99_s": _percentile(during_latency, 0.99),
                "unsubscribe_max_s": max(during_latency),
                "unsubscribe_idle_p50_s": _percentile(idle_latency, 0.5),
                "unsubscribe_idle_p99_s": _percentile(idle_latency, 0.99),
            })
        return summary
    finally:
        if unsubscribing is not None and unsubscribing.poll() is None:
            unsubscribing.kill()
        shutil.rmtree(folder, ignore_errors=True)
        await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--unsubscribe-url", help="a server on the same database: one-click"
                        " unsubscribes of the tenant during the import")
    parser.add_argument("--profile", help="write cProfile stats of our import here")
    parser.add_argument("--reimport", action="store_true", help="also time a second import")
    summary = asyncio.run(main(parser.parse_args()))
    print(json.dumps(summary))
