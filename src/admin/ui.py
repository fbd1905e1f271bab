"""A small script added to Piccolo Admin's page, for what its SPA cannot be told.

* Read-only tables: the SPA has no per-table notion of it and offers "Add row",
  row menus, check boxes and a Save button everywhere, which the server then
  refuses (admin.crud). On a read-only table's routes the script hides those
  controls, disables the fields and titles the page "View" instead of "Edit".
* Forms: the SPA renders every form field as a text box, whatever its schema
  says. A field with choices (a `Literal`, or a pick-list of admin.choices)
  becomes a select under the same name, so "Extend deadline" offers 1 or 2
  months and the open requests by person and due date — no UUID to copy.
* References to contacts (shown by e-mail, admin.references) link to the
  contact's page, and a contact's edit page links there too.
* Empty cells: the SPA writes `NULL` in each; they stay empty, or say why
  (a ledger event's contact: "erased contact").
* Language: the choice made in Piccolo Admin's selector (kept in the browser's
  localStorage) is mirrored into a cookie, so the server's texts — forms,
  menus, the admin's own pages — follow it (admin.look.staff_language); the
  script's own words are in both languages.

Served from the admin's own path (no inline script), so it is as cacheable and
CSP-friendly as the SPA's assets.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from piccolo_admin.translations.data import ENGLISH, FRENCH
from starlette.requests import Request
from starlette.responses import Response

from admin.look import LANGUAGE_COOKIE
from optinbase.i18n import LANGUAGES, N_, texts

MESSAGES = (N_("admin.ui.view"), N_("admin.ui.contact_page"))

PATH = "/optinbase-ui/"  # ends in a slash like the admin's other routes (the mount redirects others)

_SCRIPT = """(function () {
  var READ_ONLY = __READ_ONLY__;
  // The admin's words in each language (catalogues), and Piccolo Admin's choice
  // of language: its selector's (localStorage), else the browser's.
  var WORDS = __WORDS__, CHOSEN = "piccoloAdminDefaultLanguage", COOKIE = "__COOKIE__";
  function language() {
    var l = (localStorage.getItem(CHOSEN) || navigator.language || "").toLowerCase();
    return WORDS[l] ? l : (WORDS[l.split("-")[0]] ? l.split("-")[0] : "en");
  }
  function words() { return WORDS[language()]; }
  // The server's texts (forms, menus, our pages) follow the selector through a
  // cookie; a change of language reloads what the SPA fetched in the old one.
  function syncLanguage() {
    var chosen = (localStorage.getItem(CHOSEN) || "").toLowerCase();
    if (!WORDS[chosen]) return;
    var m = document.cookie.match(new RegExp("(?:^|; )" + COOKIE + "=([a-z]+)"));
    if (m && m[1] === chosen) return;
    document.cookie = COOKIE + "=" + chosen + "; path=/admin; max-age=31536000; SameSite=Lax";
    if (m) location.reload();
  }
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
    // A row's page: its fields are for reading. The list's filters stay usable.
    if (/^#\\/[a-z_]+\\/[^\\/?]+/.test(location.hash))
      document.querySelectorAll("#app form input, #app form select, #app form textarea")
        .forEach(function (el) { if (!el.closest(".title_bar")) el.disabled = true; });
    var w = words();
    document.querySelectorAll("#app h1").forEach(function (h) {
      if (h.textContent.indexOf(w.edit + " ") === 0)
        h.textContent = w.view + " " + h.textContent.slice(w.edit.length + 1);
    });
  }
  // Piccolo Admin's forms render every field as a text box: choices (a Literal,
  // or the pick-lists of admin.choices) become a select, named like the box.
  function enhanceForm() {
    var m = location.hash.match(/^#\\/forms\\/([a-z0-9-]+)/);
    var button = document.querySelector('[data-uitest="submit_custom_form_button"]');
    if (!m || !button) return;
    var form = button.closest("form");
    if (!form || form.getAttribute("data-choices") === m[1]) return;
    form.setAttribute("data-choices", m[1]);
    fetch("./api/forms/" + m[1] + "/schema/", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (schema) {
        var props = schema.properties || {};
        Object.keys(props).forEach(function (name) {
          var prop = props[name], options = [];
          var choices = prop.extra && prop.extra.choices;
          if (choices) Object.keys(choices).forEach(function (k) {
            options.push([String(choices[k].value), choices[k].display_name]);
          });
          else if (prop.enum) prop.enum.forEach(function (v) { options.push([String(v), String(v)]); });
          var input = form.querySelector('input[name="' + name + '"]');
          if (!options.length || !input) return;
          var select = document.createElement("select");
          Array.prototype.forEach.call(input.attributes, function (a) {
            if (["name", "type", "value", "step", "placeholder"].indexOf(a.name) < 0)
              select.setAttribute(a.name, a.value);
          });
          select.name = name;
          select.style.width = "100%";
          var initial = prop.default === undefined || prop.default === null ? "" : String(prop.default);
          if (initial === "") select.add(new Option("—", ""));
          options.forEach(function (o) { select.add(new Option(o[1], o[0], false, o[0] === initial)); });
          input.removeAttribute("name");
          input.style.display = "none";
          input.insertAdjacentElement("afterend", select);
        });
      });
  }
  // References to contacts (the ledger, consent states, requests: links the SPA
  // draws from admin.references, named by e-mail) lead to the contact's own
  // page (admin.contact_page), and a contact's edit page links there too.
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  function tenantOf(root) {
    var links = root.querySelectorAll('a[href^="#/tenant/"]');
    for (var i = 0; i < links.length; i++) {
      var m = links[i].getAttribute("href").match(/^#\\/tenant\\/([0-9a-f-]{36})\\/?$/);
      if (m) return m[1];
    }
    return "";
  }
  function contactLinks() {
    if (table() !== "contact") {
      document.querySelectorAll('.table_wrapper tbody a[href^="#/contact/"]').forEach(function (a) {
        var id = a.getAttribute("href").slice("#/contact/".length).replace(/\\/$/, "");
        var tenant = tenantOf(a.closest("tr"));
        if (!tenant || !UUID.test(id)) return;
        a.href = "/admin/contacts/" + tenant + "/" + id + "/";
        a.setAttribute("data-contact-page", "");
      });
    }
    var m = location.hash.match(/^#\\/contact\\/([0-9a-f-]{36})\\/?$/);
    var h1 = Array.prototype.find.call(document.querySelectorAll("#app h1"),
      function (h) { return h.textContent.trim().indexOf(words().edit) === 0; });
    if (m && h1 && !document.getElementById("contact-page-link")) {
      var tenant = tenantOf(document.querySelector("#app form") || document);
      if (!tenant) return;
      var link = document.createElement("a");
      link.id = "contact-page-link";
      link.href = "/admin/contacts/" + tenant + "/" + m[1] + "/";
      link.textContent = "\u2192 " + words().contact_page;
      link.style.display = "block";
      h1.insertAdjacentElement("afterend", link);
    }
  }
  // A list's empty cells: the SPA writes NULL in each; a blanked reference
  // says why (the schema's `null_label`, admin.references: "erased contact"),
  // any other stays empty.
  var SCHEMAS = {};
  function nullCells() {
    var t = table(), cells = document.querySelectorAll(".table_wrapper tbody td > span > code");
    if (!t || !cells.length) return;
    if (!SCHEMAS[t]) {
      SCHEMAS[t] = "loading";
      fetch("./api/tables/" + t + "/schema/", {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (schema) { SCHEMAS[t] = schema; nullCells(); },
              function () { SCHEMAS[t] = {}; });
      return;
    }
    var schema = SCHEMAS[t];
    if (schema === "loading") return;
    var columns = (schema.extra && schema.extra.visible_column_names) || [];
    cells.forEach(function (code) {
      if (code.textContent !== "NULL" || code.hasAttribute("data-null")) return;
      var td = code.closest("td"), index = Array.prototype.indexOf.call(td.parentNode.children, td);
      var prop = (schema.properties || {})[columns[index - 1]];  // after the check box
      code.setAttribute("data-null", "");
      code.textContent = (prop && prop.extra && prop.extra.null_label) || "";
      code.style.cssText = "font-family:inherit;color:#666";
    });
  }
  window.addEventListener("click", function (e) {
    // The contact page is outside the SPA: the browser follows the link, not the router.
    var a = e.target.closest && e.target.closest("a[data-contact-page]");
    if (a) e.stopPropagation();
  }, true);
  syncLanguage();
  new MutationObserver(function () { syncLanguage(); apply(); enhanceForm(); contactLinks(); nullCells(); }).observe(document.documentElement, {childList: true, subtree: true});
  window.addEventListener("hashchange", function () { apply(); enhanceForm(); });
  document.addEventListener("DOMContentLoaded", apply);
})();
"""


def _words() -> dict[str, dict[str, str]]:
    """Per language: Piccolo Admin's own "Edit" (its translations), and ours."""
    piccolo = {t.language_code: t.translations for t in (ENGLISH, FRENCH)}
    return {language: {"edit": piccolo[language].get("Edit", "Edit"),
                       "view": texts(language)("admin.ui.view"),
                       "contact_page": texts(language)("admin.ui.contact_page")}
            for language in LANGUAGES}


def install(admin: Any, read_only_tables: Iterable[str]) -> None:
    """Adds the script's route and its tag to the SPA's page."""
    body = (_SCRIPT.replace("__READ_ONLY__", json.dumps(sorted(read_only_tables)))
            .replace("__WORDS__", json.dumps(_words(), ensure_ascii=True))
            .replace("__COOKIE__", LANGUAGE_COOKIE))

    async def script(request: Request) -> Response:
        return Response(body, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    admin.add_route(PATH, script, methods=["GET"])
    tag = f'<script src=".{PATH}" defer></script>'
    if tag not in admin.template:
        admin.template = admin.template.replace("</head>", f"{tag}</head>", 1)
