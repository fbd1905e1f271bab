"""Checks on raw text from outside, shared by the HTTP edge (api.guard) and the
import parser (consent.imports.parse), which must judge each line alone.

* NUL: PostgreSQL text cannot hold one (asyncpg refuses it mid-transaction),
  SQLite stores it and C strings cut at it. JSON spells it `\\u0000`.
* Depth: msgspec, the segment compiler and `json.dumps` of attributes recurse
  once per level of nesting; a thousand levels is a RecursionError. Depth is
  checked on the raw bytes before decoding (`too_deep`), at C speed: a
  hostile megabyte costs milliseconds."""

from __future__ import annotations

import re
from typing import Any, Optional

MAX_JSON_DEPTH = 32
NUL_REFUSED = "must not contain NUL characters (\\u0000)"

# A JSON string, escapes included (an unterminated one is left for the decoder to refuse).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # "unrolled": no backtracking
# `\u0000` preceded by an even number of backslashes (an odd number escapes the first one).
_ESCAPED_NUL = re.compile(rb'(?<!\\)(?:\\\\)*\\u0000')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")  # depth does not care which kind


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit`
    (or has unbalanced brackets, which no decoder accepts either). Strings are
    removed, braces read as brackets, then each round removes every innermost
    `[]` (one `bytes.replace`: a pair it forms is left for the next round, so
    a round is exactly one level): a text at most `limit` deep is empty after
    `limit` rounds. Each round is a C-speed scan, so a hostile megabyte of `[`
    costs milliseconds, not a Python loop per byte."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # most bodies: too few to nest deeper
        return False
    brackets = _STRING.sub(b"", raw).translate(_AS_SQUARE, _NOT_BRACKETS)
    run = b"[" * (limit + 1)  # found at once in the hostile `[[[[…`, where replace is slowest
    for _ in range(limit):
        if not brackets:
            return False
        if run in brackets:
            return True
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def has_nul(raw: bytes) -> bool:
    """A NUL in JSON text: raw, or escaped inside a string."""
    return b"\x00" in raw or (b"\\u0000" in raw and _ESCAPED_NUL.search(raw) is not None)


def json_problem(raw: bytes) -> Optional[str]:
    """Why the JSON text `raw` is refused before decoding (not UTF-8, a raw
    NUL byte, too deep), or None. An escaped NUL is valid JSON, refused
    separately (`has_nul`): a 422 on the API, a row's rejection in an import."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})"
    if b"\x00" in raw:  # JSON escapes every control character in strings
        return "not JSON: a raw NUL byte"
    if too_deep(raw):
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels (or unbalanced)"
    return None


def nul_path(value: Any) -> Optional[str]:
    """The path (`rules.value`, `items[0].email`) of the first string or key
    holding a NUL in a decoded JSON value, "" for the value itself, or None.
    Iterative: the value may be as deep as MAX_JSON_DEPTH allows."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
        elif isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return where.replace("\x00", "\\u0000")
                stack.append((where, child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(node))))
    return None
