"""Import benchmark: N contacts with one consent each, through `consent.imports`
(the code `POST /v1/imports` and `optinbase import` run), beside a raw COPY of
the same file into a plain table, measured in the same run.

Runs as the application role (DATABASE_URL; RLS forced). The anchor table is
made by the owner role (DATABASE_OWNER_URL): the application role owns nothing.
Prints one JSON line (the summary) on stdout; progress goes to stderr.

    python bench/imports.py --tenant SLUG --rows 1000000 [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import sys
import time
import uuid
from urllib.parse import urlparse

HEADER = (
    "email,first_name,last_name,country,postal_code,birth_year,gender,language,"
    "consent_channel,consent_purpose,notice_id,collected_at,source,ip,method\n"
)
COUNTRIES = ("FR", "BE", "DE", "ES", "IT", "NL", "CH", "LU")
PURPOSE = "newsletter"


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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local process (the PostgreSQL backend)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def floor_tables() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """(table, columns, staging table) of the three tables an import writes."""
    from consent.imports.write import CONTACT_COLUMNS, STATE_COLUMNS
    from consent.ledger.chain import EVENT_COLUMNS

    return (("contact", CONTACT_COLUMNS, "f_contact"), ("consent_event", EVENT_COLUMNS, "f_event"),
            ("consent_state", STATE_COLUMNS, "f_state"))


async def stage_floor_rows(conn) -> None:
    """The tenant's imported rows (the transaction's `app.tenant_id`) copied
    under new time-ordered ids into temporary tables f_contact, f_event and
    f_state, in id order: what the floor INSERTs."""
    (_, CONTACT_COLUMNS, _), (_, EVENT_COLUMNS, _), (_, STATE_COLUMNS, _) = floor_tables()

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
    await conn.execute("ANALYZE f_contact; ANALYZE f_event; ANALYZE f_state")


async def insert_floor(conn, prefix: str = "") -> float:
    """Seconds for the three INSERT … SELECT of the staged rows (into
    `prefix`-named tables: "" for the real ones)."""
    started = time.perf_counter()
    for table, columns, stage in floor_tables():
        names = ", ".join(columns)
        await conn.execute(f"INSERT INTO {prefix}{table} ({names}) SELECT {names} FROM {stage}")
    return time.perf_counter() - started


async def _floor(tenant_id: uuid.UUID) -> tuple[float, float]:
    """The database's share alone: the rows just imported, copied under new ids
    into temporary tables, then INSERT … SELECT into contact, consent_event and
    consent_state (what the import's set-based statements do, with the same
    indexes, foreign keys and RLS checks), as the application role, rolled back.
    Only the three INSERTs are timed. This is the floor for any import through
    this schema on this machine, whatever the Python does. The new ids are
    time-ordered (version 7) and the rows are inserted in their order, as the
    import draws and writes them.

    Second figure, the *bare model*: the same INSERTs into three plain tables
    shaped like contact, consent_event and consent_state with a primary key and
    nothing else (no other index, no foreign key, no RLS). No import that
    writes the three rows of this data model can be faster on this machine."""
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
        await conn.execute("ROLLBACK")
        return elapsed[""], elapsed["bare_"]
    finally:
        await conn.close()
        for table, _, _ in tables:
            await owner.execute(f"DROP TABLE IF EXISTS bare_{table}")
        await owner.close()


async def main(args: argparse.Namespace) -> dict:
    from consent.imports import jobs, parse
    from consent.ledger import chain
    from optinbase import db, process
    from optinbase.context import TenantContext
    from tenants import repository

    await db.start(max_size=4)
    process.started()  # as the server and the command line do once started
    try:
        tenant = await repository.tenant_by_slug(args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        ctx = TenantContext.for_operator(tenant, "bench-import")
        notice_id = await _catalog(ctx)
        body = make_csv(args.rows, notice_id)
        _log(f"{args.rows:,} rows, {len(body) / 1e6:.0f} MB; anchor: raw COPY into a plain table")
        anchor = await _anchor(body)
        _log(f"anchor {anchor:.2f} s; ours: consent.imports (scan, validate, write, one transaction)")

        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        source = parse.scan(body, "csv")
        async with db.tenant_transaction(ctx.tenant_id):
            backend = await db.fetchval("SELECT pg_backend_pid()")
            backend_cpu = _cpu_seconds(backend)
            job_id, report = await jobs.import_now(ctx, source)
            backend_cpu = _cpu_seconds(backend) - backend_cpu
        ours = time.perf_counter() - started
        python_cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        _log(f"ours {ours:.2f} s (CPU: Python {python_cpu:.1f} s, PostgreSQL {backend_cpu:.1f} s):"
             f" {report.created:,} created, {report.updated:,} updated,"
             f" {report.rejected:,} rejected")
        if report.created != args.rows or report.rejected:
            raise SystemExit(f"import did not create {args.rows} contacts: {report.errors[:3]}")

        reimport = None
        if args.reimport:
            # Same file again: nothing new, every row an update.
            started = time.perf_counter()
            async with db.tenant_transaction(ctx.tenant_id):
                _, again = await jobs.import_now(ctx, parse.scan(body, "csv"))
            reimport = time.perf_counter() - started
            if again.updated != args.rows or again.created:
                raise SystemExit("re-import did not update every row")

        _log("database floor: the same rows INSERT … SELECT'd from temporary tables (rolled back)")
        floor, bare = await _floor(ctx.tenant_id)
        _log(f"floor {floor:.2f} s ({args.rows / floor:,.0f} rows/s);"
             f" bare model {bare:.2f} s ({args.rows / bare:,.0f} rows/s)")

        async with db.tenant_transaction(ctx.tenant_id, write=False):
            verified = await chain.verify(ctx.tenant_id)
        if not verified.ok:
            raise SystemExit(f"ledger verify failed: {verified.reason}")
        return {
            "rows": args.rows, "bytes": len(body),
            "ours_s": ours, "ours_rows_per_s": args.rows / ours,
            "anchor_s": anchor, "anchor_rows_per_s": args.rows / anchor,
            "ratio": anchor / ours, "reimport_s": reimport,
            "python_cpu_s": python_cpu, "postgres_cpu_s": backend_cpu,
            "floor_s": floor, "floor_rows_per_s": args.rows / floor,
            "bare_s": bare, "bare_rows_per_s": args.rows / bare,
            "ledger_events_verified": verified.events, "job": str(job_id),
        }
    finally:
        await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", help="write cProfile stats of our import here")
    parser.add_argument("--reimport", action="store_true", help="also time a second import")
    summary = asyncio.run(main(parser.parse_args()))
    print(json.dumps(summary))
