"""The request guard: what no handler should ever see, refused once at the
edge (`api.envelope.Envelope` calls it before any decoding or database work):
a NUL character in the path, the query or a body; a JSON body that is not
UTF-8 (RFC 8259 §8.1) or that nests deeper than `MAX_JSON_DEPTH`
(optinbase.untrusted says why each would otherwise be a 500).

Imports (CSV, NDJSON) are not refused whole for one poison line: their parser
applies the same checks line by line (consent.imports.parse), so only that row
is rejected."""

from __future__ import annotations

import msgspec

from optinbase.errors import DomainError, Invalid
from optinbase.untrusted import NUL_REFUSED, has_nul, json_problem, nul_path

FORM_TYPE = "application/x-www-form-urlencoded"


class Malformed(DomainError):
    """Bytes that cannot be what JSON is (not UTF-8, nested too deep)."""

    status = 400
    title = "Bad request"
    slug = "malformed"


def _nul_refused(where: str) -> Invalid:
    return Invalid(f"{where}: {NUL_REFUSED}", errors=[{"field": where, "message": NUL_REFUSED}])


def check_target(path: str, query_string: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """The request line and headers: no NUL in the (decoded) path, the query
    or a header value (Idempotency-Key and X-Tenant reach SQL)."""
    if "\x00" in path:
        raise _nul_refused("path")
    if b"\x00" in query_string or b"%00" in query_string:
        raise _nul_refused("query")
    for name, value in headers:
        if b"\x00" in value:
            raise _nul_refused(name.decode("latin-1"))


def check_body(body: bytes, content_type: str, *, raw: bool = False) -> None:
    """A request body, before any handler decodes it. Litestar decodes a JSON
    parameter whatever the Content-Type says, so every body but a form is held
    to JSON's rules — unless the route takes a file of its own format (`raw`:
    the import, whose parser judges each line). No route takes a file upload,
    so a raw NUL byte is refused in a multipart form too."""
    if raw or not body:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM_TYPE or media.startswith("multipart/"):
        if b"\x00" in body or (media == FORM_TYPE and b"%00" in body):
            raise _nul_refused("body")
        return
    problem = json_problem(body)
    if problem:
        raise Malformed(f"the body is {problem}" if problem.startswith("not") else problem)
    if has_nul(body):
        raise _nul_refused(_where_nul(body))


def _where_nul(body: bytes) -> str:
    """The JSON path of the NUL, so the 422 names the field like any other."""
    try:
        return nul_path(msgspec.json.decode(body)) or "body"
    except msgspec.DecodeError:
        return "body"
