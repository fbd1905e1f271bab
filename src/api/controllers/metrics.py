"""`GET /metrics`: the Prometheus text format, for the operator's scraper only.

Protected by a bearer token, `METRICS_TOKEN`: unset, the endpoint does not
exist (404, exactly as an unknown path answers — nothing to probe); set, a
missing or wrong token is 401 (compared in constant time). Outside the
tenant envelope: it reads aggregates over every tenant (`optinbase.metrics`).
"""

from __future__ import annotations

import hmac

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from optinbase import metrics
from optinbase.errors import Unauthorized


def _allowed(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


@get("/metrics", exclude_from_auth=True, include_in_schema=False)
async def scrape(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if not token:
        raise NotFoundException()
    if not _allowed(request, token):
        raise Unauthorized("a valid metrics token is required")
    return Response(content=await metrics.exposition(), media_type=metrics.CONTENT_TYPE)
