"""The form builder's script (admin.form_builder): reads the editor into a
form definition on every change, asks the server for the rendered preview
(nothing saved), and saves on "Save". Served from the admin's own path, like
admin.ui's script, so the page's policy runs no inline code.

Text reaches the page through `textContent` and `value` only; the preview is
HTML the server rendered with autoescaping, put in a frame that runs no
script (`sandbox` without `allow-scripts`)."""

SCRIPT = r"""(function () {
  "use strict";
  var state = JSON.parse(document.getElementById("builder-state").textContent);
  var form = document.getElementById("builder");
  var rows = document.querySelector("#fields tbody");
  var template = document.getElementById("field-row");
  var frame = document.getElementById("preview");
  var previewError = document.getElementById("preview-error");
  var saveError = document.getElementById("save-error");
  var asked = 0, timer = null;

  function byId(id) { return document.getElementById(id); }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function addRow(field) {
    var row = template.content.firstElementChild.cloneNode(true);
    row.querySelector(".f-name").value = field.name || "";
    row.querySelector(".f-label").value = field.label || "";
    row.querySelector(".f-type").value = field.type || "text";
    row.querySelector(".f-required").checked = !!field.required;
    row.querySelector(".f-options").value = (field.options || []).join(", ");
    // What the editor does not show (pattern, max_length) is kept as it was.
    row.extra = {};
    ["pattern", "max_length"].forEach(function (k) { if (k in field) { row.extra[k] = field[k]; } });
    row.querySelector(".f-remove").addEventListener("click", function () { row.remove(); changed(); });
    rows.appendChild(row);
  }
  function checked(name) {
    return Array.prototype.map.call(form.querySelectorAll('input[name="' + name + '"]:checked'),
                                    function (box) { return box.value; });
  }
  function collect() {
    var texts = {};
    [["title", "text-title"], ["intro", "text-intro"], ["submit", "text-submit"],
     ["success", "text-success"]].forEach(function (p) {
      if (byId(p[1]).value) { texts[p[0]] = byId(p[1]).value; }
    });
    var branding = {colour: byId("brand-colour").value};
    if (byId("brand-font").value) { branding.font = byId("brand-font").value; }
    var fields = Array.prototype.map.call(rows.children, function (row) {
      var field = Object.assign({}, row.extra, {
        name: row.querySelector(".f-name").value.trim(),
        type: row.querySelector(".f-type").value,
        required: row.querySelector(".f-required").checked});
      var label = row.querySelector(".f-label").value;
      if (label) { field.label = label; }
      var options = row.querySelector(".f-options").value.split(",")
        .map(function (o) { return o.trim(); }).filter(Boolean);
      if (options.length) { field.options = options; }
      return field;
    });
    return {
      name: byId("form-name").value, language: byId("form-language").value,
      purposes: checked("purpose"), channels: checked("channel"), fields: fields,
      texts: texts, branding: branding,
      allowed_origins: byId("allowed-origins").value.split(/\s+/).filter(Boolean),
      redirect_url: byId("redirect-url").value || null,
      double_opt_in: byId("double-opt-in").checked
    };
  }
  function send(url, then) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({definition: collect(), form_id: state.form_id})
    }).then(function (answer) {
      return answer.text().then(function (text) {
        var out;
        try { out = JSON.parse(text); } catch (e) { out = {error: text || answer.statusText}; }
        then(answer.ok, out);
      });
    });
  }
  function refresh() {
    var mine = ++asked;
    send(state.preview, function (ok, out) {
      if (mine !== asked) { return; }  // a newer edit is on its way
      previewError.textContent = ok ? "" : out.error;
      form.dataset.previewed = String(mine);
      if (ok) { frame.srcdoc = out.html; }
    });
  }
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  function save() {
    var button = byId("save");
    button.disabled = true;
    saveError.textContent = "";
    send(state.save, function (ok, out) {
      button.disabled = false;
      if (!ok) { saveError.textContent = out.error; return; }
      state.form_id = out.id;
      state.version = out.version;
      byId("embed").hidden = false;
      byId("saved-status").textContent = out.message;
      byId("builder-version").textContent = out.message;
      byId("embed-url").href = out.url;
      byId("embed-url").textContent = out.url;
      byId("embed-script").value = out.script;
      byId("embed-iframe").value = out.iframe;
      history.replaceState(null, "", out.builder);
    }).catch(function (e) { button.disabled = false; saveError.textContent = String(e); });
  }

  (state.definition.fields || []).forEach(addRow);
  byId("add-field").addEventListener("click", function () {
    addRow({name: "", type: "text"});
    rows.lastElementChild.querySelector(".f-name").focus();
  });
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  if (byId("save")) { byId("save").addEventListener("click", save); }
  refresh();
})();
"""
