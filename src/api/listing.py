"""The short lists (purposes, notices, webhooks): API.md calls them lists and
integrators read a bare JSON array, so that stays the answer when neither
`limit` nor `cursor` is given — now at most `BARE_LIMIT` items, with a
`Link: <…>; rel="next"` header (RFC 8288) when there are more. With `limit`
or `cursor` the answer is the `{items, next_cursor}` page every other list
gives."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from litestar import Request, Response

from optinbase.cursors import Page

BARE_LIMIT = 1000


def paged(limit: Optional[int], cursor: Optional[str]) -> bool:
    return limit is not None or cursor is not None


def listing(request: Request, page: Page, as_page: bool) -> Response:
    if as_page:
        return Response(page)
    headers = {}
    if page.next_cursor is not None:
        query = {**request.query_params.dict(), "limit": BARE_LIMIT, "cursor": page.next_cursor}
        query = {k: v[-1] if isinstance(v, list) else v for k, v in query.items()}
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return Response(page.items, headers=headers)
