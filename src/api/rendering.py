"""Subscriber pages as HTML: a template, the language the page was given
(chosen once, by optinbase.i18n.choose, where the page learnt whom it is for)
and that language's catalogue, dates in the tenant's time zone.

Templates hold no words of their own: they call `_("message.id", name=value)`
(and `_.date(...)`), so restyling a template never touches a text and
tests/optinbase/test_catalogues.py can check every text is in both catalogues."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Optional

import msgspec
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template

from consent.journey import legal
from consent.schemas import CHANNEL_NAMES
from optinbase import i18n
from optinbase.errors import DomainError
from optinbase.i18n import N_
from tenants.branding import brand_of


def page(template: str, *, language: str, tenant: Any, title: str, status: int = 200,
         headers: Optional[dict[str, str]] = None, **context: Any) -> Template:
    """`title`: the message id of the page's heading. Every page gets the
    tenant's brand (tenants.branding) and the controller block of its legal
    information (consent.journey.legal); `purposes=` adds the purposes with
    their notices and partners to it."""
    return Template(template_name=template, status_code=status, headers=headers,
                    context=_context(language, tenant, title, context))


def _context(language: str, tenant: Any, title: str, context: dict[str, Any]) -> dict[str, Any]:
    texts = i18n.texts(language, tenant)
    return {"_": texts, "lang": texts.language, "title": texts(title), "channels": CHANNEL_NAMES,
            "view": None, "brand": brand_of(tenant), "about": legal.about(tenant), "purposes": [],
            **context}


TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def _engine() -> JinjaTemplateEngine:
    return JinjaTemplateEngine(directory=TEMPLATES)


def page_html(template: str, *, language: str, tenant: Any, title: str,
              heading: Optional[str] = None, **context: Any) -> str:
    """The page `page` answers, as text, by the same engine (Litestar's Jinja,
    autoescaping) from the same templates: the admin's live preview of a form
    is the hosted form itself, not a look-alike. `heading`: the page's own
    words for its title, in place of the message `title`."""
    values = _context(language, tenant, title, context)
    if heading:
        values["title"] = heading
    return _engine().get_template(template).render(**values)


# A form field's own message, when the error does not name one (msgspec's
# messages are English and for developers: "Expected `str` - at `$.kind`").
_FIELD_TEXTS = {
    "email": N_("form.email_invalid"), "phone": N_("form.phone_invalid"),
    "consents": N_("form.choose_a_box"), "consents[]": N_("form.box_not_offered"),
    "kind": N_("form.kind_invalid"), "note": N_("form.note_too_long"),
}
_PATH = re.compile(r"`\$\.([A-Za-z_]+)(\[)?|required field `([A-Za-z_]+)`")


def _field(error: Exception) -> str:
    if isinstance(error, DomainError):
        errors = error.extra.get("errors") or [{}]
        name = str(errors[0].get("field", ""))
        return name.split("[")[0] + ("[]" if "[" in name else "")
    match = _PATH.search(str(error))
    if match is None:
        return ""
    return match.group(3) or match.group(1) + ("[]" if match.group(2) else "")


def error_field(error: Exception) -> str:
    """The form field a refused submission is about ("email", "consents"...),
    so the page can show the message beside it; "" when it names none."""
    return _field(error).removesuffix("[]")


def form_error(texts: i18n.Texts, error: Exception) -> str:
    """What a form page says about a refused submission, in the page's language:
    the error's own text, else the bad field's, else a general one."""
    if isinstance(error, DomainError) and error.msgid:
        return texts(error.msgid)
    if isinstance(error, (DomainError, msgspec.ValidationError, msgspec.DecodeError)):
        return texts(_FIELD_TEXTS.get(_field(error), N_("error.invalid")))
    return texts(N_("error.invalid"))
