"""Where the import's database share goes: the floor's four INSERT … SELECT
(bench/imports.py `_floor`) with parts of the schema taken away, each variant
in a transaction that is rolled back, `VACUUM` between variants (so the dead
rows of one do not slow the next).

Runs as the owner role (DATABASE_OWNER_URL; RLS is forced on it too) against a
database where `bench/run.sh` imported a tenant (BENCH_ONLY=import leaves one):

    DATABASE_OWNER_URL=postgresql://optinbase_owner@127.0.0.1:5432/optinbase_bench \\
        .venv/bin/python bench/floor_parts.py --tenant bulk

Prints one line per variant: seconds for the four INSERTs and rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from imports import floor_tables, insert_floor, stage_floor_rows  # noqa: E402  (bench/imports.py: the floor's own staging)

TABLES = floor_tables()


async def _constraints(conn, kind: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT conrelid::regclass::text AS t, conname FROM pg_constraint WHERE contype::text = $1"
        " AND conrelid IN ('contact'::regclass, 'consent_event'::regclass, 'consent_state'::regclass)",
        kind)
    return [(r["t"], r["conname"]) for r in rows]


async def _variants(conn) -> dict[str, list[str]]:
    foreign = await _constraints(conn, "f")
    # Other tables' keys to contact go too when its (tenant_id, id) index must.
    inbound = await conn.fetch(
        "SELECT conrelid::regclass::text AS t, conname FROM pg_constraint WHERE contype = 'f'"
        " AND confrelid IN ('contact'::regclass, 'consent_event'::regclass)"
        " AND conrelid NOT IN ('consent_event'::regclass, 'consent_state'::regclass)")
    unique = await _constraints(conn, "u")
    indexes = [r["indexname"] for r in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('contact', 'consent_event',"
        " 'consent_state') AND indexname NOT LIKE '%_pkey'")]
    no_fks = [f"ALTER TABLE {t} DROP CONSTRAINT {c}" for t, c in foreign]
    return {
        "full schema": [],
        "without row-level security": [f"ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY" for t, _, _ in TABLES],
        f"without the {len(foreign)} foreign keys": no_fks,
        f"without foreign keys and the {len(indexes)} secondary indexes": no_fks
        + [f"ALTER TABLE {r['t']} DROP CONSTRAINT {r['conname']}" for r in inbound]
        + [f"ALTER TABLE {t} DROP CONSTRAINT {c}" for t, c in unique]
        + [f"DROP INDEX IF EXISTS {name}" for name in indexes],
    }


async def main(args: argparse.Namespace) -> None:
    import asyncpg

    conn = await asyncpg.connect(os.environ["DATABASE_OWNER_URL"])
    try:
        tenant = await conn.fetchval("SELECT id FROM tenant WHERE slug = $1", args.tenant)
        if tenant is None:
            raise SystemExit(f"no tenant {args.tenant!r}")
        await conn.execute(f"SELECT set_config('app.tenant_id', '{tenant}', false)")
        await stage_floor_rows(conn)
        rows = await conn.fetchval("SELECT count(*) FROM f_contact")
        for name, statements in (await _variants(conn)).items():
            for _ in range(args.rounds):
                transaction = conn.transaction()
                await transaction.start()
                try:
                    for statement in statements:
                        await conn.execute(statement)
                    elapsed = sum((await insert_floor(conn)).values())
                finally:
                    await transaction.rollback()  # schema and rows as they were
                print(f"{name:58s} {elapsed:6.1f} s  {rows / elapsed:9,.0f} rows/s", flush=True)
                await conn.execute("VACUUM contact, consent_event, consent_state, change_log")
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="bulk")
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
