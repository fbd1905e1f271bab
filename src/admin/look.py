"""The frame of the admin's own pages (dashboard, agency overview, contacts, form
builder): the Piccolo Admin's colours and header, a link back to its tables and forms,
the staff member's language (the one Piccolo Admin shows: `staff_language`), no
outside assets, and no JavaScript but the form builder's own script
(admin.form_builder_script, served from the admin)."""

from __future__ import annotations

from html import escape
import contextvars
import functools
from typing import Any, Awaitable, Callable, Optional

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.scope import AdminScope, current_scope
from optinbase.i18n import Texts, accepted_languages, choose, texts

BLUE = "#4c90d0"
_CSS = (
    "*{box-sizing:border-box}body{margin:0;font-family:'Open Sans',Helvetica,Arial,sans-serif;"
    "color:#333;background:#fafafa}header{background:%(blue)s;color:#fff;padding:.7rem 1.2rem;"
    "display:flex;gap:1.4rem;align-items:center;flex-wrap:wrap}header a{color:#fff;"
    "text-decoration:none;font-weight:600}header a[aria-current=page]{text-decoration:underline}"
    "header .brand{font-size:1.2rem;margin-right:1rem}main{padding:1.2rem 1.6rem;max-width:1200px}"
    "h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #ddd;"
    "padding-bottom:.3rem}table{border-collapse:collapse;width:100%%;background:#fff;"
    "margin:.5rem 0}th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #eee;"
    "font-size:.9rem;vertical-align:top}th{font-size:.75rem;text-transform:uppercase;"
    "color:#555}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".card{background:#fff;border:1px solid #e3e3e3;padding:1rem;margin:.6rem 0}"
    ".yes{color:#1b5e20;font-weight:600}.no{color:#b71c1c;font-weight:600}.muted{color:#666}"
    ".tiles{display:flex;gap:1rem;flex-wrap:wrap}.tile{background:#fff;border:1px solid #e3e3e3;"
    "padding:.8rem 1rem;min-width:10rem}.tile strong{display:block;font-size:1.6rem}"
    "nav.tenants a{margin-right:.8rem}form.search input{padding:.4rem;min-width:18rem}"
    "form.search button{padding:.4rem .8rem;background:%(blue)s;color:#fff;border:0}"
    "code{font-size:.8rem}"
) % {"blue": BLUE}


# The staff member's language for this admin request, set by the gate, so forms
# and the SPA's menus answer in it (`say`) without passing it through every helper.
LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("optinbase_admin_language",
                                                              default="en")
# Piccolo Admin's language selector keeps its choice in the browser
# (localStorage); admin.ui mirrors it into this cookie for the server's texts.
LANGUAGE_COOKIE = "optinbase_admin_language"


def staff_language(chosen: Optional[str], accept_language: Optional[str]) -> str:
    """The language Piccolo Admin shows, followed by the admin's own texts: the
    one picked in its selector, else the browser's (the SPA reads
    `navigator.language`, which the browser also sends as `Accept-Language`),
    else English. Only French and English: the selector offers just those
    (admin.app), the languages our catalogues hold."""
    return choose(person=[chosen, *accepted_languages(accept_language)])


def say(msgid: str, /, **values: Any) -> str:
    """An admin message in the current request's language."""
    return texts(LANGUAGE.get())(msgid, **values)


def language(request: Request) -> str:
    return staff_language(request.cookies.get(LANGUAGE_COOKIE),
                          request.headers.get("accept-language"))


def page_texts(request: Request) -> Texts:
    return texts(language(request))


def layout(request: Request, scope: AdminScope, title: str, body: str, current: str = "") -> str:
    t = page_texts(request)
    links = [("/admin/", t("admin.nav.tables")), ("/admin/dashboard/", t("admin.nav.dashboard")),
             ("/admin/contacts/", t("admin.nav.contacts")),
             ("/admin/form-builder/", t("admin.nav.forms"))]
    if scope.agency_ids or scope.superuser:
        links.append(("/admin/agency/", t("admin.nav.agency")))
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if href == current else ""}>{escape(label)}</a>'
        for href, label in links
    )
    return (
        f'<!doctype html><html lang="{t.language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Optinbase</title><style>{_CSS}</style></head><body>"
        f'<header><a class="brand" href="/admin/">Optinbase</a>{nav}'
        f'<span class="muted" style="color:#e8f0fa;margin-left:auto">{escape(scope.username)}'
        f"</span></header><main>{body}</main></body></html>"
    )


def cell(value: Any) -> str:
    """A table cell's text: empty values stay empty (no "None", no "NULL")."""
    return "" if value is None else escape(str(value))


Handler = Callable[[Request, AdminScope, Texts], Awaitable[Response]]


def staff_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An admin page for logged-in staff (others go to the login page), called
    with the staff scope and the texts of the browser's language."""

    @functools.wraps(handler)
    async def page(request: Request) -> Response:
        scope = current_scope.get()
        if scope.user_id is None:
            return RedirectResponse("/admin/", status_code=303)
        return await handler(request, scope, page_texts(request))

    return page


def table(element_id: str, headers: list[str], rows: list[str], numeric: int = 0) -> str:
    """A table of ready-made `<tr>` rows; the last `numeric` columns right-aligned."""
    cells = "".join(
        f'<th{" class=n" if i >= len(headers) - numeric else ""}>{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    return (f'<table id="{element_id}"><thead><tr>{cells}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
