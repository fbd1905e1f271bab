"""The form builder's page (admin.form_builder): the editor beside the live
preview, and the saved version's embed snippets.

The editor is plain HTML; admin.form_builder_script reads it into the API's
definition (consent.forms.schemas.FormIn) on every change. The fields' rows
come from a `<template>`, so the script never writes HTML; the current
definition travels as a JSON data block (`<` escaped, never executed)."""

from __future__ import annotations

import json
from html import escape
from typing import Any, Optional

from consent.schemas import CHANNEL_NAMES
from optinbase.i18n import Texts
from tenants.branding import brand_of

FIELD_TYPES = ("text", "number", "date", "select", "checkbox")
_CSS = (
    ".builder{display:grid;grid-template-columns:minmax(22rem,1fr) minmax(22rem,1fr);gap:1.2rem}"
    ".builder fieldset{border:1px solid #ddd;background:#fff;margin:0 0 .8rem;padding:.6rem .8rem}"
    ".builder label{display:block;font-size:.85rem;margin:.4rem 0 .15rem}"
    ".builder input[type=text],.builder input[type=url],.builder textarea,.builder select"
    "{width:100%;padding:.35rem}.builder .inline label{display:inline;margin-right:.8rem}"
    "#fields td{padding:.2rem}#fields input[type=text]{min-width:6rem}"
    "#preview{width:100%;min-height:40rem;border:1px solid #ccc;background:#fff}"
    "#preview-error,#save-error{color:#b71c1c;font-weight:600}"
    "#embed textarea{width:100%;font-family:monospace;font-size:.8rem}"
    "button{padding:.4rem .8rem}"
)


def _attr(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _input(element_id: str, label: str, value: Any, kind: str = "text", **extra: str) -> str:
    more = "".join(f' {k.replace("_", "-")}="{_attr(v)}"' for k, v in extra.items())
    return (f'<label for="{element_id}">{escape(label)}</label>'
            f'<input id="{element_id}" type="{kind}" value="{_attr(value)}"{more}>')


def _choices(name: str, legend: str, items: list[tuple[str, str]], chosen: list[str]) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="{name}" value="{_attr(value)}"'
        f'{" checked" if value in chosen else ""}> {escape(text)}</label>'
        for value, text in items)
    return f'<fieldset id="{name}s" class="inline"><legend>{escape(legend)}</legend>{boxes}</fieldset>'


def _field_row(t: Texts) -> str:
    """One field's row, as the `<template>` the script clones."""
    types = "".join(f'<option value="{k}">{k}</option>' for k in FIELD_TYPES)
    return (
        '<tr class="field"><td><input type="text" class="f-name" aria-label="'
        f'{_attr(t("admin.builder.field_name"))}"></td><td><input type="text" class="f-label"'
        f' aria-label="{_attr(t("admin.builder.field_label"))}"></td><td><select class="f-type"'
        f' aria-label="{_attr(t("admin.builder.field_type"))}">{types}</select></td>'
        f'<td><input type="checkbox" class="f-required" aria-label="'
        f'{_attr(t("admin.builder.field_required"))}"></td><td><input type="text"'
        f' class="f-options" aria-label="{_attr(t("admin.builder.field_options"))}"></td>'
        f'<td><button type="button" class="f-remove">{escape(t("admin.builder.remove"))}'
        "</button></td></tr>")


def _fields(t: Texts) -> str:
    heads = "".join(f"<th>{escape(text)}</th>" for text in (
        t("admin.builder.field_name"), t("admin.builder.field_label"),
        t("admin.builder.field_type"), t("admin.builder.field_required"),
        t("admin.builder.field_options"))) + "<th></th>"
    return (f'<fieldset><legend>{escape(t("admin.builder.fields"))}</legend>'
            f'<p class="muted">{escape(t("admin.builder.fields_help"))}</p>'
            f'<table id="fields"><thead><tr>{heads}</tr></thead><tbody></tbody></table>'
            f'<template id="field-row">{_field_row(t)}</template>'
            f'<button type="button" id="add-field">{escape(t("admin.builder.add_field"))}</button>'
            "</fieldset>")


def _editor(t: Texts, purposes: list[dict[str, str]], d: dict[str, Any]) -> str:
    texts, branding = d.get("texts") or {}, d.get("branding") or {}
    languages = "".join(f'<option value="{code}"{" selected" if d["language"] == code else ""}>'
                        f"{code}</option>" for code in ("fr", "en"))
    return (
        f'<fieldset><legend>{escape(t("admin.builder.form"))}</legend>'
        + _input("form-name", t("admin.builder.name"), d["name"], maxlength="200")
        + f'<label for="form-language">{escape(t("admin.builder.language"))}</label>'
        f'<select id="form-language">{languages}</select></fieldset>'
        + _choices("purpose", t("admin.builder.purposes"),
                   [(p["key"], f'{p["name"]} ({p["key"]})') for p in purposes], d["purposes"])
        + _choices("channel", t("admin.builder.channels"),
                   [(c, t(msgid)) for c, msgid in CHANNEL_NAMES.items()], d["channels"])
        + _fields(t)
        + f'<fieldset><legend>{escape(t("admin.builder.texts"))}</legend>'
        + _input("text-title", t("admin.builder.text_title"), texts.get("title"))
        + f'<label for="text-intro">{escape(t("admin.builder.text_intro"))}</label>'
        f'<textarea id="text-intro" rows="3">{escape(texts.get("intro") or "")}</textarea>'
        + _input("text-submit", t("admin.builder.text_submit"), texts.get("submit"))
        + _input("text-success", t("admin.builder.text_success"), texts.get("success"))
        + "</fieldset>"
        + f'<fieldset><legend>{escape(t("admin.builder.branding"))}</legend>'
        + _input("brand-colour", t("admin.builder.colour"), branding.get("colour", "#0b4f9c"),
                 "color")
        + _input("brand-font", t("admin.builder.font"), branding.get("font"))
        + "</fieldset>"
        + f'<fieldset><legend>{escape(t("admin.builder.after"))}</legend>'
        + _input("redirect-url", t("admin.builder.redirect"), d.get("redirect_url"), "url")
        + f'<label for="allowed-origins">{escape(t("admin.builder.origins"))}</label>'
        f'<textarea id="allowed-origins" rows="3">'
        f'{escape(chr(10).join(d.get("allowed_origins") or []))}</textarea>'
        f'<label><input type="checkbox" id="double-opt-in"'
        f'{" checked" if d.get("double_opt_in", True) else ""}> '
        f'{escape(t("admin.builder.double_opt_in"))}</label></fieldset>'
    )


def _embed(t: Texts, saved: Optional[Any]) -> str:
    embed = saved.embed if saved else None
    status = t("admin.builder.saved", version=saved.version) if saved else \
        t("admin.builder.unsaved")
    return (
        f'<section id="embed"{"" if saved else " hidden"}><h2>{escape(t("admin.builder.embed"))}</h2>'
        f'<p id="saved-status">{escape(status)}</p>'
        f'<p>{escape(t("admin.builder.embed_url"))} <a id="embed-url" target="_blank" rel="noopener"'
        f' href="{_attr(embed.url if embed else "")}">{escape(embed.url if embed else "")}</a></p>'
        f'<label for="embed-script">{escape(t("admin.builder.embed_script"))}</label>'
        f'<textarea id="embed-script" rows="3" readonly>{escape(embed.script if embed else "")}'
        f'</textarea><label for="embed-iframe">{escape(t("admin.builder.embed_iframe"))}</label>'
        f'<textarea id="embed-iframe" rows="3" readonly>{escape(embed.iframe if embed else "")}'
        "</textarea></section>")


def builder_body(t: Texts, *, tenant: Any, purposes: list[dict[str, str]],
                 definition: dict[str, Any], saved: Optional[Any], preview: str,
                 may_save: bool, base: str, script: str) -> str:
    state = json.dumps({"definition": definition, "form_id": str(saved.id) if saved else None,
                        "version": saved.version if saved else 0,
                        "preview": f"{base}preview/", "save": f"{base}save/"})
    logo = brand_of(tenant).logo_url
    # The preview frame inherits this page's policy: naming the logo here lets it load there.
    logo_tag = f'<img src="{_attr(logo)}" alt="" hidden>' if logo else ""
    heading = escape(saved.name) if saved else escape(t("admin.builder.new_title"))
    version = t("admin.builder.version_n", version=saved.version) if saved else ""
    save = (f'<button type="button" id="save">{escape(t("admin.builder.save"))}</button>'
            if may_save else f'<p class="muted">{escape(t("admin.builder.role"))}</p>')
    return (
        f"<style>{_CSS}</style>{logo_tag}"
        f'<h1 id="builder-title">{heading}</h1><p class="muted">{escape(t("admin.tenant"))}: '
        f'{escape(tenant.name)} <span id="builder-version">{escape(version)}</span></p>'
        f'<div class="builder"><form id="builder" novalidate>{_editor(t, purposes, definition)}'
        f'{save} <span id="save-error" role="alert"></span></form>'
        f'<section><h2>{escape(t("admin.builder.preview"))}</h2>'
        f'<p class="muted">{escape(t("admin.builder.preview_help"))}</p>'
        f'<p id="preview-error" role="alert"></p>'
        # No allow-scripts: nothing in the preview runs, whatever a label holds.
        f'<iframe id="preview" title="{_attr(t("admin.builder.preview"))}"'
        f' sandbox="allow-same-origin" srcdoc="{_attr(preview)}"></iframe></section></div>'
        f'{_embed(t, saved)}'
        f'<script type="application/json" id="builder-state">'
        f'{state.replace("<", chr(92) + "u003c")}</script>'
        f'<script src="{script}" defer></script>'
    )
