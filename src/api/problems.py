"""The one mapping from errors to answers: RFC 9457 problem documents, or the
public pages' error page for a browser."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api.envelope import SCOPE_KEY
from api.rendering import page
from optinbase import db, i18n
from optinbase.errors import DomainError, Unavailable
from optinbase.i18n import N_

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
    if status in (429, 503):
        return {"Retry-After": str(getattr(error, "retry_after", Unavailable.retry_after))}
    return None


def problem(status: int, detail: str, slug: str | None = None, *,
            cause: DomainError | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    body = {
        "type": TYPE_BASE + (slug or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM,
                    headers={**(_headers(status, cause) or {}), **(headers or {})} or None)


def to_problem(request: Request | None, exc: Exception) -> Response:
    """The app's one exception handler: every failure becomes a problem
    document — or, for a person's browser on a public page, the error page."""
    error = _as_domain_error(exc)
    if error is None:
        if isinstance(exc, ValidationException):
            return _validation_problem(exc)
        if isinstance(exc, HTTPException):  # its headers stay (405's `Allow`, RFC 9110 §15.5.6)
            return problem(exc.status_code, exc.detail or _TITLES.get(exc.status_code, "Error"),
                           headers=exc.headers)
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "An unexpected error occurred; it has been logged.")
    if request is not None and wants_page(request):
        return error_page(request, error)
    return problem(error.status, error.detail, error.slug, cause=error, **error.extra)


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


# What the error page says when the error names no text of its own.
_PAGE_TEXTS = {
    400: N_("error.invalid"), 404: N_("error.not_found"), 410: N_("error.gone"),
    413: N_("error.invalid"), 422: N_("error.invalid"), 429: N_("error.too_many"),
    503: N_("error.unavailable"),
}
_PAGE_TITLES = {404: N_("page.error.title.link"), 410: N_("page.error.title.link"),
                503: N_("page.error.title.unavailable")}


def error_page(request: Request, error: DomainError) -> Response:
    """The one error page of the public pages, in the language of the person it
    concerns when the service knew them (`error.person`), else the browser's
    (Accept-Language), else the tenant's default. It shows the catalogue's text
    of the error (`error.msgid`) — never the English `detail` of the API."""
    resolved = request.scope.get(SCOPE_KEY)  # type: ignore[call-overload]
    tenant = resolved[1] if resolved else None  # None: the link named no tenant
    language = i18n.choose(tenant, person=error.person,
                           accept_language=request.headers.get("accept-language"))
    texts = i18n.texts(language, tenant)
    return page("error.html", language=language, tenant=tenant, status=error.status,
                headers=_headers(error.status, error),
                title=_PAGE_TITLES.get(error.status, N_("page.error.title.generic")),
                message=texts(error.msgid or _PAGE_TEXTS.get(error.status, N_("error.generic"))))


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")


def _field_path(key: Any, message: str) -> str:
    """Litestar names the whole body `data`; an unknown field is named in the message."""
    if not key or key == "data":
        match = _UNKNOWN_FIELD.search(message)
        return match.group(1) if match else "body"
    return str(key)
