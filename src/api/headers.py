"""Security headers on every answer (app middleware), decided in one place.

* `X-Content-Type-Options: nosniff` everywhere.
* `Content-Security-Policy`: an HTML page may run scripts and style sheets
  from this site and the inline `<script>`/`<style>` blocks it carries, each
  allowed by its SHA-256 (computed from the page itself, so a template change
  needs no edit here) — never other inline code, never another site. The
  admin's single-page app and Swagger UI (`/schema`) also get `style-src
  'unsafe-inline'` (their widgets write styles at run time, which Chromium
  refuses otherwise: tests/security/test_browser_policies.py); their scripts
  stay hashed-or-self.
  Images come from this site, `data:`, and the origins of the `<img src>`
  the page itself carries (a tenant's logo on its subscriber pages, from a
  checked http(s) setting: tenants.branding) — found in the page like the
  inline hashes. Anything else (JSON, CSV, …) gets `default-src 'none'`.
* `frame-ancestors 'none'` (and `X-Frame-Options: DENY`) unless a hook in
  `FRAME_ANCESTORS` names origins that may frame that answer (issue 16: forms
  embedded in iframes on a tenant's allowed origins).
* `Referrer-Policy: no-referrer` on pages whose URL holds a token (a link in
  an e-mail: confirm, preferences, unsubscribe, request verify/status/
  package, re-permission), so the token never leaves in a Referer; `same-origin` elsewhere
  (forms without a token keep sending their Origin, which api.origins checks).
* Production (`OPTINBASE_ENV=production`): `Strict-Transport-Security`, and
  every cookie set without `Secure` (piccolo_api's CSRF cookie) gets it.

HTML answers are small pages: they are held until complete to hash their
inline blocks; every other answer streams untouched but for its headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Callable, Iterable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Hooks: scope -> origins that may frame this answer (issue 16).
FRAME_ANCESTORS: list[Callable[[Scope], Iterable[str]]] = []

TOKEN_PAGES = ("/p/confirm/", "/p/preferences/", "/p/unsubscribe/", "/p/requests/verify/",
               "/p/requests/status/", "/p/requests/package/", "/p/keep/")
RUN_TIME_STYLES = ("/admin", "/schema")  # single-page apps that style elements as they run
HSTS = b"max-age=63072000; includeSubDomains"
_SECURE = re.compile(rb";\s*secure\s*(;|$)", re.I)
_INLINE = re.compile(rb"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.S | re.I)
_IMAGE = re.compile(rb"<img\b[^>]*?\bsrc=\"(https?://[A-Za-z0-9.:\[\]-]+)[/\"]", re.I)


def inline_hashes(html: bytes) -> dict[str, list[str]]:
    """CSP sources ('sha256-…') of the inline scripts and style blocks of a page."""
    found: dict[str, list[str]] = {"script": [], "style": []}
    for kind, attributes, content in _INLINE.findall(html):
        if kind.lower() == b"script" and b"src=" in attributes.lower():
            continue
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        found[kind.lower().decode()].append(f"'sha256-{digest}'")
    return found


def image_origins(html: bytes) -> list[str]:
    """The origins of the page's own `<img src="http(s)://…">` (a tenant's logo)."""
    return sorted({origin.decode("ascii").lower() for origin in _IMAGE.findall(html)})


def _frame_ancestors(scope: Scope) -> list[str]:
    origins: list[str] = []
    for hook in FRAME_ANCESTORS:
        origins.extend(o.rstrip("/") for o in hook(scope))
    return origins


def policy(scope: Scope, html: bytes | None, ancestors: list[str] | None = None) -> str:
    ancestors = _frame_ancestors(scope) if ancestors is None else ancestors
    frame = "frame-ancestors " + (" ".join(["'self'", *ancestors]) if ancestors else "'none'")
    if html is None:
        return f"default-src 'none'; {frame}"
    hashes = inline_hashes(html)
    run_time_styles = scope["path"].startswith(RUN_TIME_STYLES)
    styles = ["'self'", *(["'unsafe-inline'"] if run_time_styles else hashes["style"])]
    return "; ".join([
        "default-src 'none'",
        "script-src " + " ".join(["'self'", *hashes["script"]]),
        "style-src " + " ".join(styles),
        "img-src " + " ".join(["'self'", "data:", *image_origins(html)]),
        "font-src 'self' data:", "connect-src 'self'",
        "form-action 'self'", "base-uri 'none'", "object-src 'none'", frame,
    ])


def _is_html(start: Message) -> bool:
    content_type = b""
    for key, value in start.get("headers", ()):
        if key == b"content-type":
            content_type = value
    return content_type.startswith(b"text/html")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, production: bool = False) -> None:
        self.app, self.production = app, production
        # What an answer that is not a page and may not be framed gets (most
        # answers: the API's JSON), by whether its path holds a token: built once.
        self._plain = {token: self._ours({"path": TOKEN_PAGES[0] if token else "/"}, None, [])
                       for token in (False, True)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # As asked: a mounted app (the admin) may rewrite the scope's path on its way.
        asked = {**scope}
        start: Message | None = None
        held: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if _is_html(message):
                    start = message  # held: the policy hashes the page's inline blocks
                    return
                await send(self._headed(asked, message, None))
                return
            if message["type"] == "http.response.body" and start is not None:
                held.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(held)
                await send(self._headed(asked, start, body))
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _ours(self, scope: Scope, html: bytes | None, ancestors: list[str]) -> dict[bytes, bytes]:
        ours = {
            b"content-security-policy": policy(scope, html, ancestors).encode(),
            b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"no-referrer" if scope["path"].startswith(TOKEN_PAGES)
            else b"same-origin",
        }
        if not ancestors:
            ours[b"x-frame-options"] = b"DENY"
        if self.production:
            ours[b"strict-transport-security"] = HSTS
        return ours

    def _headed(self, scope: Scope, start: Message, html: bytes | None) -> Message:
        ancestors = _frame_ancestors(scope)
        if html is None and not ancestors:
            ours = self._plain[scope["path"].startswith(TOKEN_PAGES)]
        else:
            ours = self._ours(scope, html, ancestors)
        headers = []
        for key, value in start.get("headers", []):
            name = key.lower()
            if name in ours:
                continue
            if self.production and name == b"set-cookie" and not _SECURE.search(value):
                value = value + b"; Secure"
            headers.append((key, value))
        headers.extend(ours.items())
        return {**start, "headers": headers}
