"""Many rows in one PostgreSQL statement: each column sent as one array, turned
back into rows by `unnest` (`INSERT … SELECT … FROM unnest($2::uuid[], …)`).

Why not COPY into a temporary table then INSERT … SELECT from it (what imports
did): COPY into a row-level-security table is refused, so the rows needed a
staging table per transaction (creation and catalog work in every chunk), and
on Citus an INSERT … SELECT from a temporary table into an RLS table runs as
COPY on the shards, refused too. With the arrays the statement carries its
tenant as a plain parameter (`tenant_id = $n`, in the select list) and nothing
else but its own values: one prepared statement, one round trip.

Rows under ids drawn for them (`new_rows`, `Insert(…, fresh=True)`) go in
as a plain INSERT … SELECT on PostgreSQL, and with `ON CONFLICT (tenant_id,
id) DO NOTHING` on Citus only: such a clause never skips one of them, but it
makes Citus insert through intermediate results instead of COPY (which
row-level security refuses). On PostgreSQL each row paid for it — a probe of
the primary key before its insertion and a speculative one — 12 % of an
import's database CPU for its four tables.

Text columns can travel as one text each instead (`select(…, joined=True)`,
`joined_args`): the values joined by U+001F, U+001E standing for NULL, split
again by `string_to_array`. asyncpg's array encoder checks every element
against `collections.abc` types before encoding it (~0.24 µs a text element
here; joining is ~0.03 µs), and PostgreSQL splits a joined text as fast as it
decodes an array (~0.1 µs an element either way). A column that cannot be
joined — a value holding either character, or one empty text alone, which
`string_to_array` reads as no element — sends the whole statement as arrays.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from optinbase import db

SEPARATOR, NULL = "\x1f", "\x1e"
_JOINED = "string_to_array({}::text, chr(31), chr(30))"
# What routes an INSERT … SELECT of new rows on Citus (`new_rows`).
ROUTED = " ON CONFLICT (tenant_id, id) DO NOTHING"


def new_rows(statement: str) -> str:
    """`statement`, an INSERT … SELECT of rows under ids drawn for them (none
    is in the table), as this database takes it best: as it is, or on Citus
    with ROUTED (see the module's docstring)."""
    return statement + ROUTED if db.is_citus() else statement


def inserting(table: str, columns: Sequence[str]) -> Callable[[str], str]:
    """An `Insert`'s `build` for a plain INSERT INTO `table` (`columns`) of
    its SELECT (with `fresh`: rows under ids drawn for them, `new_rows`)."""
    return lambda source: f"INSERT INTO {table} ({', '.join(columns)}) {source}"


def unnest(columns: Sequence[tuple[str, str]], alias: str = "s", joined: bool = False) -> str:
    """`unnest({}::type[], …) AS alias(name, …)` of (name, type) pairs: a FROM
    item whose `{}` placeholders take `arrays(...)` in the same order (`joined`:
    text columns take one text each, `joined_args`)."""
    sources = ", ".join(_JOINED if joined and kind == "text" else f"{{}}::{kind}[]"
                        for _, kind in columns)
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


_KINDS = {"external_id": "text", "at": "timestamptz", "seq": "bigint", "birth_year": "int"}


def select(columns: Sequence[str], constants: dict[str, str],
           joined: bool = False) -> tuple[str, list[int]]:
    """`SELECT s.a, <constant>, … FROM unnest(…)` giving `columns` in order,
    those in `constants` (SQL, e.g. `{}` for the tenant) in place, the others
    from arrays; `attributes` cast to jsonb. With the positions in `columns`
    of the arrayed ones (for `arrays`). The constants' placeholders come first.
    `joined`: text columns come as one text each (`joined_args`)."""
    staged = [i for i, name in enumerate(columns) if name not in constants]
    listed = ", ".join(
        constants[name] if name in constants
        else f"s.{name}::jsonb" if name == "attributes" else f"s.{name}"
        for name in columns
    )
    source = unnest([(columns[i], kind_of(columns[i])) for i in staged], joined=joined)
    return f"SELECT {listed} FROM {source}", staged


def text_positions(columns: Sequence[str], staged: Sequence[int]) -> list[int]:
    """Which of the `staged` columns (their places in `arrays`) are text: the
    ones `select(…, joined=True)` takes as one text each."""
    return [j for j, i in enumerate(staged) if kind_of(columns[i]) == "text"]


def arrays(records: Sequence[Sequence[Any]], positions: Sequence[int]) -> list[list[Any]]:
    """The fields at `positions` of `records`, one list per position (the
    arrays `unnest` takes)."""
    return [[record[i] for record in records] for i in positions]


def joined(values: Sequence[Any]) -> Optional[str]:
    """`values` (texts or None) as one text for `string_to_array(…, chr(31),
    chr(30))`, or None when they cannot be (see the module's docstring)."""
    nulls = values.count(None)
    try:
        text = SEPARATOR.join([NULL if v is None else v for v in values] if nulls else values)
    except TypeError:  # not a text: the array encoder says what it is
        return None
    if (text.count(SEPARATOR) != len(values) - 1 and values) or text.count(NULL) != nulls:
        return None
    if not text and len(values) == 1:
        return None
    return text


def joined_args(records: Sequence[Sequence[Any]], positions: Sequence[int],
                text: Sequence[int]) -> tuple[bool, list[Any]]:
    """The arguments for `select`'s statement: (True, …) with the columns at
    `text` (`text_positions`) joined, for the `joined=True` form, or (False,
    `arrays(…)`) for the plain form when one of them cannot be joined."""
    return joined_columns(arrays(records, positions), text)


def joined_columns(columns: list[Any], text: Sequence[int]) -> tuple[bool, list[Any]]:
    """`joined_args` of rows already taken apart: `columns`, one list each."""
    sent = list(columns)
    for j in text:
        one = joined(columns[j])
        if one is None:
            return False, columns
        sent[j] = one
    return True, sent


class Insert:
    """An INSERT … SELECT over `columns` sent as arrays (`select`; `constants`
    in place), in both its forms: `plain`, and `joined` (text columns as one
    text each), which `call` picks unless a value forbids it. `build` makes
    the statement around the SELECT; with `fresh`, one of rows under ids
    drawn for them, sent as `new_rows` makes it."""

    def __init__(self, columns: Sequence[str], constants: dict[str, str],
                 build: Callable[[str], str], fresh: bool = False):
        source, self.staged = select(columns, constants)
        self.plain = build(source)
        self.joined = build(select(columns, constants, joined=True)[0])
        self.text = text_positions(columns, self.staged)
        self.fresh = fresh

    @property
    def forms(self) -> tuple[str, str]:
        """Both forms, as sent on this database."""
        return self._sent(self.plain), self._sent(self.joined)

    def _sent(self, statement: str) -> str:
        return new_rows(statement) if self.fresh else statement

    def call(self, records: Sequence[Sequence[Any]], *leading: Any,
             staged: bool = False) -> list[Any]:
        """The statement in the form `records` allow, then its arguments:
        `leading` (the constants' values, in column order), then the records'
        columns. `staged`: each record holds only the arrayed columns, in order."""
        positions = range(len(self.staged)) if staged else self.staged
        return self._form(*joined_args(records, positions, self.text), leading)

    def call_columns(self, columns: list[list[Any]], *leading: Any) -> list[Any]:
        """`call(…, staged=True)` of rows given as their columns, one list
        each in order: a caller that has the columns needs no row built only
        to be taken apart again."""
        return self._form(*joined_columns(columns, self.text), leading)

    def _form(self, joined: bool, columns: list[Any], leading: tuple[Any, ...]) -> list[Any]:
        return [self._sent(self.joined if joined else self.plain), *leading, *columns]


class NewRows:
    """An INSERT … SELECT of rows under ids drawn for them, written out
    whole (not from column arrays: `Insert`); `sql`: as sent on this
    database (`new_rows`)."""

    def __init__(self, text: str):
        self.text = text

    @property
    def sql(self) -> str:
        return new_rows(self.text)

    @property
    def forms(self) -> tuple[str]:
        return (self.sql,)
