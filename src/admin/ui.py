"""A small script added to Piccolo Admin's page so read-only tables look
read-only. The SPA has no per-table notion of it: it offers "Add row", row
menus, check boxes and a Save button everywhere, and the server then answers
405. The CRUD layer already refuses those writes (admin.crud); this only stops
offering them: on a read-only table's routes the controls are hidden, the
fields disabled and the page titled "View" instead of "Edit".

Served from the admin's own path (no inline script), so it is as cacheable and
CSP-friendly as the SPA's assets.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from starlette.requests import Request
from starlette.responses import Response

PATH = "/optinbase/ui.js"

_SCRIPT = """(function () {
  var READ_ONLY = %s;
  var HIDE = 'a[href$="/add/"], [data-uitest="save_button"], [data-uitest="drop_down_button"],'
    + ' .table_wrapper td:last-child a.subtle, .table_wrapper input[type="checkbox"],'
    + ' a.add, [data-uitest="delete_button"]';
  function table() {
    var m = location.hash.match(/^#\\/([a-z_]+)(\\/|$)/);
    return m ? m[1] : "";
  }
  function apply() {
    var readOnly = READ_ONLY.indexOf(table()) >= 0;
    document.body.toggleAttribute("data-read-only", readOnly);
    if (!readOnly) return;
    document.querySelectorAll(HIDE).forEach(function (el) { el.style.display = "none"; });
    document.querySelectorAll("#app form input, #app form select, #app form textarea")
      .forEach(function (el) { if (!el.closest(".title_bar")) el.disabled = true; });
    document.querySelectorAll("#app h1").forEach(function (h) {
      if (h.textContent.indexOf("Edit ") === 0) h.textContent = "View " + h.textContent.slice(5);
    });
  }
  new MutationObserver(apply).observe(document.documentElement, {childList: true, subtree: true});
  window.addEventListener("hashchange", apply);
  document.addEventListener("DOMContentLoaded", apply);
})();
"""


def install(admin: Any, read_only_tables: Iterable[str]) -> None:
    """Adds the script's route and its tag to the SPA's page."""
    body = _SCRIPT % json.dumps(sorted(read_only_tables))

    async def script(request: Request) -> Response:
        return Response(body, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    admin.add_route(PATH, script, methods=["GET"])
    tag = f'<script src=".{PATH}" defer></script>'
    if tag not in admin.template:
        admin.template = admin.template.replace("</head>", f"{tag}</head>", 1)
