"""Where a public POST comes from: cross-site request forgery on `/p`.

Browsers name the page that sends a POST in `Origin` (and `Sec-Fetch-Site`).
The rule, per kind of page:

* **Forms without a token** (`/p/{tenant}/subscribe`, `/p/{tenant}/requests`):
  nothing proves the sender but the origin, so a POST must come from this
  site (the `Host` it was sent to, `PUBLIC_URL`), an origin in `FORM_ORIGINS`,
  or one a hook in `EXTRA_ORIGINS` admits (the embedded forms of issue 16 add
  theirs there). A foreign origin, `Origin: null` (sandboxed frames, data:
  pages) and `Sec-Fetch-Site: cross-site` are refused (403). A POST with no
  `Origin` at all is not a browser's — integrators post JSON from servers —
  and passes (the limits still apply).
* **Pages reached by a signed link** (confirm, preferences, unsubscribe,
  request verification): the unguessable token in the URL is what a forger
  lacks, so only a foreign origin is refused. No `Origin` passes — RFC 8058
  one-click unsubscribes come from mail providers' servers — and neither does
  `Origin: null` fail: these pages send `Referrer-Policy: no-referrer`, with
  which browsers post their own forms as `Origin: null` (Fetch, "append a
  request Origin header").
"""

from __future__ import annotations

from typing import Callable, Iterable
from urllib.parse import urlsplit

from litestar.types import ASGIApp, Receive, Scope, Send

from api.envelope import SAFE_METHODS, header
from optinbase.errors import Forbidden
from optinbase.i18n import N_

# Hooks: scope -> origins also allowed to post there (issue 16: a form's allowed_origins).
EXTRA_ORIGINS: list[Callable[[Scope], Iterable[str]]] = []


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ForeignOrigin(Forbidden):
    slug = "foreign-origin"


class SameOrigin:
    """Pages router middleware (outside the envelope): refuses a forged POST
    before any transaction opens."""

    def __init__(self, app: ASGIApp, public_url: str = "", origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset({origin_of(public_url), *origins} - {"://"})

    def admitted(self, scope: Scope) -> set[str]:
        host = (header(scope, b"host") or "").lower()
        own = {f"http://{host}", f"https://{host}"} if host else set()
        for hook in EXTRA_ORIGINS:
            own.update(o.rstrip("/").lower() for o in hook(scope))
        return own | self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            self.check(scope)
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        origin = (header(scope, b"origin") or "").strip().lower()
        linked = "tenant_of" in scope["route_handler"].opt  # a page of a signed link
        if not origin:
            if not linked and header(scope, b"sec-fetch-site") == "cross-site":
                raise _refusal()
            return
        if origin == "null":
            if not linked:
                raise _refusal()
            return
        if origin not in self.admitted(scope):
            raise _refusal()


def _refusal() -> ForeignOrigin:
    return ForeignOrigin("this form may only be sent from its own page",
                         msgid=N_("error.foreign_origin"))
