"""The one mapping from errors to RFC 9457 problem documents."""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from optinbase.errors import Conflict, DomainError, Forbidden, NotFound

try:  # asyncpg is only needed on PostgreSQL
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None

logger = logging.getLogger("optinbase.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://optinbase.dev/problems/"

_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
    415: "Unsupported media type", 422: "Invalid input", 429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}


def problem(status: int, detail: str, slug: str | None = None, **extra: Any) -> Response:
    body = {
        "type": TYPE_BASE + (slug or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="optinbase"'} if status == 401 else None
    return Response(
        content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM, headers=headers
    )


def _database_error(exc: Exception) -> DomainError | None:
    """Constraint and policy violations become the answer the walls promise."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in text:
            return Conflict("an object with this identifier already exists")
        if "FOREIGN KEY" in text or "same tenant" in text:
            return NotFound("a referenced object was not found")
        return Conflict(text)
    if asyncpg is not None:
        if isinstance(exc, asyncpg.UniqueViolationError):
            return Conflict("an object with this identifier already exists")
        if isinstance(exc, asyncpg.ForeignKeyViolationError):
            return NotFound("a referenced object was not found")
        if isinstance(exc, asyncpg.InsufficientPrivilegeError):
            # Row-level security refused the row: for the caller it does not exist.
            return NotFound("not found")
        if isinstance(exc, asyncpg.CheckViolationError):
            return Forbidden(text.split("\n")[0])
    return None


def to_problem(request: Request | None, exc: Exception) -> Response:
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.detail, exc.slug, **exc.extra)
    if isinstance(exc, ValidationException):
        errors = [
            {"field": _field_path(e.get("key"), e.get("message", "")),
             "message": e.get("message", "")}
            for e in (exc.extra or [])
            if isinstance(e, dict)
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.detail
        malformed = any("malformed" in e["message"].lower() for e in errors)
        return problem(400 if malformed else 422, detail, "invalid", errors=errors)
    if isinstance(exc, HTTPException):
        return problem(exc.status_code, exc.detail or _TITLES.get(exc.status_code, "Error"))
    mapped = _database_error(exc)
    if mapped is not None:
        return problem(mapped.status, mapped.detail, mapped.slug)
    logger.exception("unhandled error", exc_info=exc)
    return problem(500, "An unexpected error occurred; it has been logged.")


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


def _field_path(key: Any, message: str) -> str:
    """Litestar names the whole body `data`; an unknown field is named in the message."""
    if not key or key == "data":
        match = _UNKNOWN_FIELD.search(message)
        return match.group(1) if match else "body"
    return str(key)
