"""Rows decoded once, in the data layer: what `db.fetch` returns holds Python
values — `uuid.UUID`, timezone-aware `datetime`, and `dict`/`list` for JSON —
on both engines, so no service converts a value by hand.

Why a registry of column names: hand-written SQL names its result columns,
and a result column carries no type on SQLite once it passes through an
expression, a CTE or a UNION (sqlite3 only converts a column selected as it
is declared), while asyncpg hands JSON back as text. The tables' Piccolo
columns say what each name holds; an alias in SQL keeps the name of the
column it carries (`c.id AS contact_id`), which is the rule that makes this
work. A name declared with two kinds (a JSON column in one table and text in
another) is never decoded (tests/optinbase/test_rows.py fails on one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from functools import lru_cache
from typing import Any, Iterable

from piccolo.columns import JSON, JSONB, UUID, ForeignKey, Timestamptz
from piccolo.conf.apps import Finder

_UUID_SHAPE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Aliases written in SQL that name no table column of their own.
_ALIASES: dict[str, tuple[str, ...]] = {"uuid": (), "time": (), "json": ()}


def _kind(column: Any) -> str:
    if isinstance(column, (JSON, JSONB)):
        return "json"
    if isinstance(column, Timestamptz):
        return "time"
    if isinstance(column, UUID):
        return "uuid"
    if isinstance(column, ForeignKey):
        return _kind(column._foreign_key_meta.resolved_target_column)
    return "other"


@lru_cache(maxsize=1)
def kinds() -> dict[str, str]:
    """Column name → "uuid" | "time" | "json" for every table of the installed
    apps (read once, on first use: the table modules are imported through
    Piccolo's app registry, never by this ground-floor module)."""
    seen: dict[str, set[str]] = {}
    for table in Finder().get_table_classes():
        for column in table._meta.columns:
            seen.setdefault(column._meta.db_column_name, set()).add(_kind(column))
    for kind, names in _ALIASES.items():
        for name in names:
            seen.setdefault(name, set()).add(kind)
    known = {}
    for name, found in seen.items():
        if found == {"uuid", "other"}:
            # `id` is a uuid in the tenant tables and an integer for Piccolo's
            # users: only uuid-shaped text is ever converted, so both hold.
            found = {"uuid"}
        if len(found) == 1 and found != {"other"}:
            known[name] = next(iter(found))
    return known


def _uuid(value: Any) -> Any:
    if isinstance(value, str) and _UUID_SHAPE.match(value):
        return uuid.UUID(value)
    return value


def _time(value: Any) -> Any:
    if isinstance(value, str):
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return value


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


_DECODERS = {"uuid": _uuid, "time": _time, "json": _json}


def decoders(names: Iterable[str], engine_type: str) -> tuple[tuple[str, Any], ...]:
    """What a result with these column names needs: on PostgreSQL only JSON
    (asyncpg decodes uuid and timestamptz itself); on SQLite all three."""
    return _plan(tuple(names), engine_type)


@lru_cache(maxsize=4096)
def _plan(names: tuple[str, ...], engine_type: str) -> tuple[tuple[str, Any], ...]:
    """`decoders`, worked out once per result shape (statements are few; the
    consent check runs one on every request)."""
    known = kinds()
    wanted = ("json",) if engine_type == "postgres" else ("json", "uuid", "time")
    return tuple((name, _DECODERS[known[name]]) for name in names
                 if known.get(name) in wanted)


def decode(rows: list[Any], engine_type: str) -> list[Any]:
    """`rows` with their values decoded. A PostgreSQL result without JSON stays
    a list of asyncpg Records (the hot paths pay nothing); otherwise rows
    become dicts."""
    if not rows:
        return rows
    first = rows[0]
    plan = decoders(first.keys(), engine_type)
    if not plan:
        return rows
    if engine_type == "postgres":
        rows = [dict(row) for row in rows]
    for row in rows:
        for name, convert in plan:
            value = row[name]
            if value is not None:
                row[name] = convert(value)
    return rows
