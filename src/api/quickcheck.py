"""`GET /v1/consent-check`, the question asked before every send, answered
without the framework's per-request machinery when nothing about the request
is unusual (issue 14: the check's throughput and tail latency under load).

Litestar's route pipeline (routing, the router's middleware, the scope guard,
dependency injection, parameter parsing, the response object) costs more CPU
than the check's own three database round trips. This layer sits just inside
the request log and the security headers (api.app) and answers the steady
state itself, through the same parts the route uses:

* the caller from `api.auth.cached_caller` — a key this process verified
  within the cache lifetime and its cached tenant (so revocation still takes
  effect within `API_KEY_CACHE_SECONDS`), the `consents:read` scope checked
  as `api.auth.requires` checks it;
* `api.guard.check_target` on the path, query and headers;
* `consent.consents.check` inside `tenants.envelope.tenant(ctx, write=False)`,
  the READ ONLY tenant transaction (row-level security) the envelope opens;
* the answer encoded by Litestar's own JSON encoder, with the headers the
  route sends (the layers outside add the security headers and the request id,
  log the line and count the metrics as for any answer).

Anything else goes to the Litestar app untouched, before a byte is sent, and
the route answers as it always did: another method or path, a query other than
exactly one `channel` (a known one), `purpose` and `email`, each non-empty,
a header the route validates (`X-Tenant`, `Idempotency-Key`), a CORS request,
a caller not already known (first use of a key, a stale cache, any refusal:
401, 403, 429, 404 are the route's to make and count), and any error of the
check itself (unknown purpose, malformed address, database down) — read-only
work, rolled back, that the route then does again to answer its problem.
tests/api/test_quick_check.py compares both paths byte for byte.
"""

from __future__ import annotations

from typing import Any, Optional

from litestar._parsers import parse_query_string  # the route's own query parser
from litestar.serialization import encode_json
from litestar.types import ASGIApp, Receive, Scope, Send

from api import guard
from api.auth import cached_caller
from api.envelope import SCOPE_KEY
from consent import consents
from consent.schemas import CHANNELS, CheckItem
from tenants import envelope

ROUTE = "/v1/consent-check"
SCOPE = "consents:read"  # what the route's guard requires
_PARAMETERS = frozenset({"channel", "purpose", "email"})
_CHANNELS = frozenset(CHANNELS)
# Headers that make the route do something of its own: validation of its
# declared header parameters (api.docs.HEADERS), CORS (when it is on).
_ROUTE_HEADERS = frozenset({b"x-tenant", b"idempotency-key"})


class QuickCheck:
    """ASGI layer in front of the Litestar app `app` (whose state holds the
    key authenticator and the tenant directory)."""

    def __init__(self, app: ASGIApp, litestar: Any, cors: bool = False) -> None:
        self.app, self.state = app, litestar.state
        self.skip_headers = _ROUTE_HEADERS | ({b"origin"} if cors else frozenset())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == ROUTE and scope["method"] == "GET":
            body = await self.answer(scope)
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def answer(self, scope: Scope) -> Optional[bytes]:
        """The answer's body, or None: the route must answer."""
        item = self._item(scope)
        if item is None:
            return None
        caller = cached_caller(scope, self.state)
        if caller is None or not caller[0].allows(SCOPE):
            return None
        ctx = caller[0]
        scope[SCOPE_KEY] = caller  # type: ignore[literal-required]  # the log's tenant id
        scope["path_template"] = ROUTE  # type: ignore[typeddict-unknown-key]
        try:
            async with envelope.tenant(ctx, write=False):
                out = await consents.check(ctx, item)
        except Exception:
            del scope[SCOPE_KEY], scope["path_template"]  # type: ignore[misc]
            return None
        return encode_json(out)

    def _item(self, scope: Scope) -> Optional[CheckItem]:
        if scope.get("root_path"):
            return None
        headers = scope["headers"]
        for name, _ in headers:
            if name in self.skip_headers:
                return None
        query = scope.get("query_string", b"")
        try:
            guard.check_target(scope["path"], query, headers)
        except Exception:
            return None
        pairs = parse_query_string(query)
        given = dict(pairs)
        if len(pairs) != 3 or given.keys() != _PARAMETERS or not all(given.values()):
            return None
        if given["channel"] not in _CHANNELS:
            return None
        return CheckItem(channel=given["channel"], purpose=given["purpose"],  # type: ignore[arg-type]
                         email=given["email"])
