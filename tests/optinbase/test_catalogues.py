"""The catalogues hold every text a subscriber reads, in French and in English.

The message ids are extracted from src/ the way `make messages` does (Babel:
Python and the Jinja templates), then compared with both .po files: an id used
but missing or empty in one language fails, and so does a catalogue entry no
code uses. Templates and e-mail senders may hold no words of their own."""

from __future__ import annotations

import ast
import datetime as dt
import functools
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from optinbase import i18n
from optinbase.i18n.catalogues import catalogue

SRC = Path(__file__).resolve().parents[2] / "src"
TEMPLATES = SRC / "api" / "templates"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]  # as babel.cfg
DATES = {"expires", "due", "until", "when", "date"}  # values that are datetimes


@functools.cache
def _used() -> dict[str, list[str]]:
    """Message id → where it is used (file:line under src/)."""
    used: dict[str, list[str]] = {}
    for filename, lineno, message, _, _ in extract_from_dir(SRC, METHODS):
        if isinstance(message, str):
            used.setdefault(message, []).append(f"{filename}:{lineno}")
    return used


def _written(language: str) -> dict[str, str]:
    return {m.id: m.string for m in catalogue(language) if m.id}


def _names(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(text) if name}


def test_extraction_finds_the_texts_of_pages_emails_and_errors():
    used = _used()
    # One of each kind, so that a broken extraction cannot pass as "nothing missing".
    for msgid in ("confirm.intro", "request.form.send", "mail.confirm.body",
                  "mail.request.verify.subject", "mail.receipt.body", "mail.keep.body",
                  "error.confirm_link_invalid", "form.email_invalid", "channel.social_ads",
                  "request.kind.erasure", "request.state.lapsed", "request.outcome.erased"):
        assert msgid in used, msgid
    assert any(where.startswith("api/templates/") for places in used.values()
               for where in places)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_text_used_is_written_in_each_language(language):
    written = _written(language)
    missing = {msgid: places for msgid, places in _used().items() if not written.get(msgid)}
    assert not missing, f"not in the {language} catalogue (make messages, then write them): {missing}"
    fuzzy = [m.id for m in catalogue(language) if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries are not shown to anyone: {fuzzy}"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_no_catalogue_entry_is_left_unused(language):
    unused = set(_written(language)) - set(_used())
    assert not unused, f"in the {language} catalogue but used nowhere: {sorted(unused)}"


def test_both_languages_fill_the_same_values_and_format_them():
    english, french = _written("en"), _written("fr")
    assert set(english) == set(french)
    for msgid, text in english.items():
        assert _names(text) == _names(french[msgid]), msgid
        values = {name: dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.timezone.utc)
                  if name in DATES else "Acme" for name in _names(text)}
        for language in i18n.LANGUAGES:
            formatted = i18n.texts(language).gettext(msgid, **values)
            assert "{" not in formatted and formatted.strip(), (language, msgid, formatted)


def _own_words(template: str) -> list[str]:
    """What a template says outside `{{ }}`, `{% %}`, `{# #}` and markup."""
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    attributes = re.findall(r'\b(?:title|alt|placeholder|aria-label|value)="([^"{]*[A-Za-z][^"]*)"',
                            text)
    words = re.findall(r"[^\W\d_]{2,}", re.sub(r"<[^>]*>", " ", text))
    return words + [a for a in attributes if a != "One-Click"]  # RFC 8058's form value


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_hold_no_words_of_their_own(template):
    assert _own_words((TEMPLATES / template).read_text()) == [], template


def test_the_template_check_can_fail():
    assert _own_words('<p>{{ _("a") }} Hello</p><button title="Send">') == ["Hello", "Send"]


_FRENCH = re.compile(r"[éèêàâçùûôîœ]|\b(?:vous|votre|vos|nous|merci|bonjour)\b", re.I)


def _strings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_french_text_outside_the_catalogues():
    found = []
    for path in SRC.rglob("*.py"):
        if "i18n" in path.parts or "piccolo_migrations" in path.parts:
            continue
        for node in _strings(ast.parse(path.read_text())):
            if _FRENCH.search(node.value):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


# E-mails to staff, not to subscribers (the DPO's digest names ids and dates only).
STAFF_MAIL = {"consent/requests/reminders.py"}


def _written_here(value: ast.AST) -> bool:
    """Whether an e-mail's subject or text holds words of its own rather than a
    catalogue's message (whose values may be anything; a line break is no word)."""
    if isinstance(value, ast.JoinedStr):
        return True
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str) and bool(value.value.strip())
    if isinstance(value, ast.BinOp):
        return _written_here(value.left) or _written_here(value.right)
    if isinstance(value, ast.IfExp):
        return _written_here(value.body) or _written_here(value.orelse)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        return _written_here(value.func.value)  # "Hello {name}".format(...)
    return False  # a name, or a call: texts.gettext("mail.x", link=...)


def test_emails_to_subscribers_take_subject_and_text_from_the_catalogues():
    written_here, calls = [], 0
    for path in SRC.rglob("*.py"):
        where = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(
                    node.func, "id", getattr(node.func, "attr", None)) == "enqueue_email"):
                continue
            calls += 1
            written_here += [f"{where}:{node.lineno} {k.arg}" for k in node.keywords
                             if k.arg in ("subject", "text") and _written_here(k.value)
                             and where not in STAFF_MAIL]
    assert calls >= 6  # confirmation, receipt, re-permission, requests (send, lifted), digest
    assert written_here == []


def test_the_email_check_can_fail():
    assert _written_here(ast.parse('f"Hello {name}"', mode="eval").body)
    assert _written_here(ast.parse('texts.gettext("a.b") + "Receipt:"', mode="eval").body)
    assert _written_here(ast.parse('"Dear {x}".format(x=1)', mode="eval").body)
    values_only = 'texts.gettext("a.b", x=f"{u}/p") + "\\n"'
    assert not _written_here(ast.parse(values_only, mode="eval").body)
