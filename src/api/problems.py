"""The one mapping from errors to answers: RFC 9457 problem documents, or the
public pages' error page for a browser."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template

from optinbase import db
from optinbase.errors import DomainError, Unavailable

logger = logging.getLogger("optinbase.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://optinbase.dev/problems/"

_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
    415: "Unsupported media type", 422: "Invalid input", 429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}


def _headers(status: int, error: DomainError | None = None) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="optinbase"'}
    if status == 503:
        return {"Retry-After": str(getattr(error, "retry_after", Unavailable.retry_after))}
    return None


def problem(status: int, detail: str, slug: str | None = None, **extra: Any) -> Response:
    body = {
        "type": TYPE_BASE + (slug or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM,
                    headers=_headers(status))


def to_problem(request: Request | None, exc: Exception) -> Response:
    """The app's one exception handler: every failure becomes a problem
    document — or, for a person's browser on a public page, the error page."""
    error = _as_domain_error(exc)
    if error is None:
        if isinstance(exc, ValidationException):
            return _validation_problem(exc)
        if isinstance(exc, HTTPException):
            return problem(exc.status_code, exc.detail or _TITLES.get(exc.status_code, "Error"))
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "An unexpected error occurred; it has been logged.")
    if request is not None and wants_page(request):
        return error_page(request, error)
    return problem(error.status, error.detail, error.slug, **error.extra)


def _as_domain_error(exc: Exception) -> DomainError | None:
    return exc if isinstance(exc, DomainError) else db.domain_error_of(exc)


def _validation_problem(exc: ValidationException) -> Response:
    errors = [
        {"field": _field_path(e.get("key"), e.get("message", "")),
         "message": e.get("message", "")}
        for e in (exc.extra or [])
        if isinstance(e, dict)
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.detail
    malformed = any("malformed" in e["message"].lower() for e in errors)
    return problem(400 if malformed else 422, detail, "invalid", errors=errors)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def wants_page(request: Request) -> bool:
    """A public page asked for by a browser (not `Accept: application/json`)."""
    try:
        page = request.route_handler.opt.get("page", False)
    except Exception:  # no route matched
        return False
    return bool(page) and not wants_json(request)


_ERROR_TITLE = {"fr": "Lien non valable", "en": "Invalid link"}


def error_page(request: Request, error: DomainError) -> Response:
    """The one error page of the public pages, in the visitor's language."""
    language = "fr" if "fr" in request.headers.get("accept-language", "")[:2] else "en"
    return Template(template_name="error.html", status_code=error.status,
                    headers=_headers(error.status, error),
                    context={"view": None, "lang": language, "title": _ERROR_TITLE[language],
                             "message": error.detail})


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


def _field_path(key: Any, message: str) -> str:
    """Litestar names the whole body `data`; an unknown field is named in the message."""
    if not key or key == "data":
        match = _UNKNOWN_FIELD.search(message)
        return match.group(1) if match else "body"
    return str(key)
