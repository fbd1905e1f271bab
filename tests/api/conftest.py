"""Every statement the API sends to PostgreSQL is checked against Citus's routing
rules (tests/statement_guard.py): a test whose statements touch a tenant table
without `tenant_id = $n`, lock rows across tenants or join two tenants fails,
unless the statement is one of the KNOWN ones below, each waiting for its own
rework. SQLite sends nothing to check."""

from __future__ import annotations

import asyncio
import functools
import os
import re
from typing import Any, Optional

import pytest

from optinbase import db
from tests.statement_guard import statement_violations

# Statements known to break a rule, each with the work that will change it.
# A pattern matches the start of the statement (whitespace squeezed).
KNOWN: list[tuple[str, str]] = [
]

_sent: Optional[list[tuple[str, Any]]] = None


def _record(query: str, args: Any) -> None:
    if _sent is not None:
        _sent.append((query, args))


db.statement_recorder = _record


@functools.lru_cache(maxsize=4096)
def _known(sql: str) -> Optional[str]:
    text = " ".join(sql.split())
    return next((why for pattern, why in KNOWN if re.match(pattern, text)), None)


@pytest.fixture(autouse=True)
async def citus_routing() -> Any:
    global _sent
    _sent = []
    yield
    await asyncio.sleep(0)  # asyncpg hands logged queries over with call_soon
    sent, _sent = _sent, None
    found: dict[str, list[str]] = {}
    for sql, args in sent:
        if sql in found or _known(sql):
            continue
        problems = statement_violations(sql, args)
        if problems:
            found[sql] = problems
    report = os.environ.get("STATEMENT_GUARD_REPORT")  # survey mode: list, never fail
    if report:
        with open(report, "a") as out:
            for sql, problems in found.items():
                out.write(f"{problems}\t{' '.join(sql.split())}\n")
        return
    if found:
        pytest.fail("statements Citus cannot route to one tenant:\n" + "\n".join(
            f"- {'; '.join(p)}\n    {' '.join(sql.split())[:400]}" for sql, p in found.items()
        ), pytrace=False)
