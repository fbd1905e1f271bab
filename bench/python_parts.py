"""The import's Python steps, each timed alone (CPU time, no database): what
one row costs in parsing, validation, matching, sealing and states. The file is
bench/imports.py's; people are all new (an empty match index).

    .venv/bin/python bench/python_parts.py [ROWS]      # default 200000
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
import time
import types
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import imports  # noqa: E402  (bench/imports.py: the same file)

from consent.ledger import chain as ledger_chain  # noqa: E402
from consent.imports import parse, write  # noqa: E402
from consent.imports import validate as checks
from optinbase import process  # noqa: E402
from optinbase.context import TenantContext  # noqa: E402
from optinbase.ids import FastUUID, uuid7s  # noqa: E402


def main(rows: int) -> None:
    process.started()  # as the server and the command line
    # asyncpg's UUIDs, as the import reads them from the database (the standard
    # library's hash in Python, theirs in C: sets and dicts keyed by them cost less)
    tenant, purpose, notice = (FastUUID(uuid.uuid4().bytes) for _ in range(3))
    body = imports.make_csv(rows, notice)
    ctx = TenantContext.for_operator(types.SimpleNamespace(id=tenant, slug="bench", country="FR"),
                                     "bench")
    catalog = checks.Catalog(purposes={imports.PURPOSE: (purpose, False)},
                             notices={notice: (purpose, frozenset(["email"]))})
    now = dt.datetime.now(dt.timezone.utc)
    writer = write.Writer(ctx, "csv", {})
    times: dict[str, float] = {}

    def timed(name: str, step):
        started = time.process_time()
        result = step()
        times[name] = time.process_time() - started
        return result

    source = timed("scan the file", lambda: parse.scan(body, "csv"))
    records = timed("read the records", lambda: list(source.records()))
    valid = timed("validate", lambda: [
        checks.validate(r, "csv", ctx, catalog, b"k" * 32, {}, now) for r in records])

    def match():
        _, touched, pending = writer.match(valid, {}, iter(uuid7s(len(valid))).__next__)
        for person, consent in pending:  # what write() learns from the ledger check
            person.last_activity = consent.collected_at
        return pending

    people = timed("match people", match)
    timed("contact records", lambda: writer._contact_records([p for p, _ in people], now))
    chain = ledger_chain.Chain(tenant)
    chain.seq, chain.prev = 0, ledger_chain.GENESIS  # what lock() reads from an empty ledger
    events = timed("ledger events", lambda: [writer._event(p, c, now) for p, c in people])
    sealed = timed("seal the chain", lambda: chain.seal(events))

    timed("states", lambda: write._states(sealed))
    for name, seconds in times.items():
        print(f"{name:18s} {seconds:6.2f} s {seconds / rows * 1e6:6.1f} µs/row")
    total = sum(times.values())
    print(f"{'total':18s} {total:6.2f} s {total / rows * 1e6:6.1f} µs/row"
          f" (gc collections: {sum(s['collections'] for s in gc.get_stats())})")


if __name__ == "__main__":
    with process.bulk_work():  # the collector's settings of an import (its runner's)
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
