"""`GET /`: a small page saying what this server is and where to go (API
docs, admin, health) instead of a bare 404; and the subscriber pages' own
style sheet, served by the app (no CDN, no web font: pages work offline and
tell no third party who opened them)."""

from __future__ import annotations

from pathlib import Path

from litestar import Request, get
from litestar.response import Template
from litestar.static_files import create_static_files_router

from api.rendering import page
from optinbase import i18n
from optinbase.i18n import N_

STATIC = Path(__file__).resolve().parent.parent / "static"


@get("/", include_in_schema=False, sync_to_thread=False, opt={"page": True})
def landing(request: Request) -> Template:
    language = i18n.choose(None, accept_language=request.headers.get("accept-language"))
    return page("landing.html", language=language, tenant=None, title=N_("landing.title"))


def assets_router():
    return create_static_files_router(path="/static", directories=[STATIC],
                                      include_in_schema=False, name="page-assets",
                                      cache_control=None)
