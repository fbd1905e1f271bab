"""CSV cells that a spreadsheet would run as formulas (CSV injection, OWASP):
a text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is
written with a leading `'`, which spreadsheets show as text. A number stays a
number — an E.164 phone (`+33612345678`) or `-12.5` — but `-1+1`, `+cmd|…`
or `=HYPERLINK(…)` do not. Applied to every text cell of every CSV we write
(segment exports, in Python and in PostgreSQL's COPY, and access packages).
"""

from __future__ import annotations

import re
from typing import Any

TRIGGERS = "=+-@\t\r"
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def cell(value: Any) -> Any:
    if isinstance(value, str) and value and value[0] in TRIGGERS and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def sql_cell(expression: str) -> str:
    """The same rule in PostgreSQL, for a text expression."""
    return (f"CASE WHEN {expression} ~ '^[-=+@\\t\\r]' AND {expression} !~ '^[+-]?[0-9]+(\\.[0-9]+)?$'"
            f" THEN '''' || {expression} ELSE {expression} END")
