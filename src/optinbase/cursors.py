"""Opaque pagination cursors. They carry only the last key seen; a forged cursor
can move the window but never widen the tenant filter."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any, Optional

import msgspec

from optinbase.errors import invalid_field


def _enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _dec(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception:
        raise invalid_field("cursor", "is not a cursor this API returned") from None


def encode_uuid(value: uuid.UUID) -> str:
    return _enc(f"u:{value}")


def decode_uuid(cursor: str) -> uuid.UUID:
    text = _dec(cursor)
    try:
        assert text.startswith("u:")
        return uuid.UUID(text[2:])
    except (AssertionError, ValueError):
        raise invalid_field("cursor", "is not a cursor this API returned") from None


def encode_int(value: int) -> str:
    return _enc(f"i:{value}")


def decode_int(cursor: str) -> int:
    text = _dec(cursor)
    try:
        assert text.startswith("i:")
        return int(text[2:])
    except (AssertionError, ValueError):
        raise invalid_field("cursor", "is not a cursor this API returned") from None


def encode_text(value: str) -> str:
    return _enc(f"t:{value}")


def decode_text(cursor: str) -> str:
    text = _dec(cursor)
    if not text.startswith("t:") or not text.isprintable():  # no NUL nor control characters
        raise invalid_field("cursor", "is not a cursor this API returned")
    return text[2:]


def encode_pair(at: dt.datetime, value: uuid.UUID) -> str:
    return _enc(f"p:{at.isoformat()}|{value}")


def decode_pair(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    text = _dec(cursor)
    try:
        assert text.startswith("p:")
        at, value = text[2:].split("|")
        return dt.datetime.fromisoformat(at), uuid.UUID(value)
    except (AssertionError, ValueError):
        raise invalid_field("cursor", "is not a cursor this API returned") from None


class Page(msgspec.Struct, kw_only=True):
    """One page of a list: `next_cursor` is None on the last one."""

    items: list[Any]
    next_cursor: Optional[str]


def page_of(items: list[Any], limit: int, cursor_of: Any) -> Page:
    """`items` fetched with LIMIT limit + 1: the first `limit`, and a cursor
    after the last of them when there was one more."""
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=cursor_of(items[-1]) if more else None)


def id_page(rows: list[Any], limit: int, convert: Any) -> Page:
    """The page of `rows` fetched by id with `LIMIT limit + 1` (the extra row only
    says another page follows), each row through `convert`."""
    return page_of([convert(r) for r in rows], limit, lambda item: encode_uuid(item.id))
