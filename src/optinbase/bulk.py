"""Many rows in one PostgreSQL statement: each column sent as one array, turned
back into rows by `unnest` (`INSERT … SELECT … FROM unnest($2::uuid[], …)`).

Why not COPY into a temporary table then INSERT … SELECT from it (what imports
did): COPY into a row-level-security table is refused, so the rows needed a
staging table per transaction (creation and catalog work in every chunk), and
on Citus an INSERT … SELECT from a temporary table into an RLS table runs as
COPY on the shards, refused too. With the arrays the statement carries its
tenant as a plain parameter (`tenant_id = $n`, in the select list) and nothing
else but its own values: one prepared statement, one round trip.
"""

from __future__ import annotations

from typing import Any, Sequence


def unnest(columns: Sequence[tuple[str, str]], alias: str = "s") -> str:
    """`unnest({}::type[], …) AS alias(name, …)` of (name, type) pairs: a FROM
    item whose `{}` placeholders take `arrays(...)` in the same order."""
    sources = ", ".join(f"{{}}::{kind}[]" for _, kind in columns)
    return f"unnest({sources}) AS {alias}({', '.join(name for name, _ in columns)})"


def kind_of(name: str) -> str:
    """The array type of a column by the schema's naming: ids are UUIDs (but
    `external_id`), `…_at` and `since` are times, a few integers, else text
    (PostgreSQL assigns text to varchar columns; jsonb is cast by the caller)."""
    if name in _KINDS:
        return _KINDS[name]
    if name == "id" or name.endswith("_id"):
        return "uuid"
    return "timestamptz" if name.endswith("_at") or name == "since" else "text"


_KINDS = {"external_id": "text", "at": "timestamptz", "seq": "bigint", "birth_year": "int", "chain_format": "int"}


def select(columns: Sequence[str], constants: dict[str, str]) -> tuple[str, list[int]]:
    """`SELECT s.a, <constant>, … FROM unnest(…)` giving `columns` in order,
    those in `constants` (SQL, e.g. `{}` for the tenant) in place, the others
    from arrays; `attributes` cast to jsonb. With the positions in `columns`
    of the arrayed ones (for `arrays`). The constants' placeholders come first."""
    staged = [i for i, name in enumerate(columns) if name not in constants]
    listed = ", ".join(
        constants[name] if name in constants
        else f"s.{name}::jsonb" if name == "attributes" else f"s.{name}"
        for name in columns
    )
    source = unnest([(columns[i], kind_of(columns[i])) for i in staged])
    return f"SELECT {listed} FROM {source}", staged


def arrays(records: Sequence[Sequence[Any]], positions: Sequence[int]) -> list[list[Any]]:
    """The fields at `positions` of `records`, one list per position (the
    arrays `unnest` takes)."""
    return [[record[i] for record in records] for i in positions]
