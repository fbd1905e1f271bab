"""Domain errors. Services raise these; `api.problems.to_problem` turns them into
RFC 9457 problem documents. Nothing here knows about HTTP frameworks.

`detail` is English and is what the API's problem documents say. An error a
subscriber can meet on a page also names its text in the catalogues
(`msgid`, optinbase.i18n), which the error page shows in the page's language;
and when the service already knew whom the page is for, that `person`'s
locales (as optinbase.i18n.choose takes them), so the page speaks their
language rather than the browser's."""

from __future__ import annotations

from typing import Any, Optional, Sequence


class DomainError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, *, msgid: Optional[str] = None,
                 person: Optional[Sequence[Optional[str]]] = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.msgid = msgid
        self.person = person
        self.extra = extra


class NotFound(DomainError):
    """Also the answer for another tenant's object: the two are indistinguishable."""

    status = 404
    title = "Not found"
    slug = "not-found"


class Gone(DomainError):
    """A link or file that existed but no longer works (expired, used, dropped)."""

    status = 410
    title = "Link no longer valid"
    slug = "link-gone"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class Invalid(DomainError):
    """Well-formed input that breaks a rule; `errors` names each bad field."""

    status = 422
    title = "Invalid input"
    slug = "invalid"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(detail, **extra)  # msgid=, person= pass through
        self.extra["errors"] = errors or []


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class Unavailable(DomainError):
    """The database cannot be reached (restarting, failing over, saturated):
    nothing was done; the caller may retry after `retry_after` seconds."""

    status = 503
    title = "Service unavailable"
    slug = "unavailable"
    retry_after = 5


class TooManyRequests(DomainError):
    """A shared limit (optinbase.limits) is used up; `retry_after` seconds
    until its window ends."""

    status = 429
    title = "Too many requests"
    slug = "too-many-requests"
    retry_after = 60


def invalid_field(field: str, message: str, msgid: Optional[str] = None) -> Invalid:
    return Invalid(f"{field}: {message}", errors=[{"field": field, "message": message}],
                   msgid=msgid)
