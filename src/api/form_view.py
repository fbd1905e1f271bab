"""What a form version looks like, for every renderer: the hosted page (also
the iframe), the script that renders it in the host page (api.controllers.
public_forms) and the admin builder's live preview (admin.form_builder), which
renders the hosted page from an unsaved draft — one view, so the preview is
the form people will see."""

from __future__ import annotations

from typing import Any, Optional

from api.rendering import page, page_html
from consent.forms.definitions import Version
from consent.forms.submission import FormSubmission
from consent.schemas import CHANNEL_NAMES
from optinbase import i18n
from optinbase.i18n import N_
from tenants.branding import label_on

# Labels of contact fields when the tenant gave none (catalogue ids).
FIELD_LABELS = {
    "email": N_("subscribe.email_label"), "phone": N_("subscribe.phone_label"),
    "first_name": N_("forms.first_name"), "last_name": N_("forms.last_name"),
    "postal_code": N_("forms.postal_code"), "country": N_("forms.country"),
    "birth_year": N_("forms.birth_year"),
}
TEMPLATE = "embedded_form.html"


def _label(field: Any, texts: i18n.Texts) -> str:
    """The tenant's label, else the catalogue's for a contact field, else the
    attribute's key."""
    if field.label:
        return field.label
    if field.name in FIELD_LABELS:
        return texts(FIELD_LABELS[field.name])
    return field.name.split(".", 1)[-1]


def view(version: Version, texts: i18n.Texts, partners: dict[Any, list[str]]) -> dict[str, Any]:
    """What every renderer shows: fields with labels, boxes grouped by purpose,
    each group naming the partners of its notice (`partners`: legal.partners_of)."""
    d = version.definition
    groups: dict[str, dict[str, Any]] = {}
    for offer in d.offers:
        named = partners.get(offer.notice_id) or []
        group = groups.setdefault(offer.purpose, {
            "purpose": offer.purpose, "name": offer.purpose_name, "text": offer.notice_text,
            "language": offer.notice_language, "boxes": [],
            "partners": texts(N_("legal.partners"), partners=", ".join(named)) if named
            else texts(N_("legal.no_partners"))})
        group["boxes"].append({"channel": offer.channel, "label": texts(
            "consent.by_channel", channel=texts(CHANNEL_NAMES[offer.channel]))})
    return {
        "id": str(version.form_id), "version": version.version,
        "title": d.texts.title or texts(N_("subscribe.title")), "intro": d.texts.intro or "",
        "submit": d.texts.submit or texts(N_("subscribe.button")),
        "success": d.texts.success or texts(N_("subscribe.check_mail") if d.double_opt_in
                                            else N_("forms.subscribed")),
        "error": texts(N_("error.invalid")), "colour": d.branding.colour,
        "on_colour": label_on(d.branding.colour),  # a pale colour gets a dark label (WCAG AA)
        "font": d.branding.font or "system-ui, sans-serif",
        "fields": [{"name": f.name, "label": _label(f, texts), "type": f.type,
                    "required": f.required, "options": f.options or [],
                    "max_length": f.max_length} for f in d.fields],
        "groups": list(groups.values()),
    }


def language_of(version: Version) -> str:
    return version.definition.language.split("-")[0]


class Shown:
    """What one rendering of the hosted page carries besides the form itself:
    the outcome, and for a refused submission (`given`) its typed values and
    ticks back, with the error beside its field (as on the subscribe page)."""

    def __init__(self, *, done: bool = False, error: Optional[str] = None, error_field: str = "",
                 given: Optional[FormSubmission] = None, page_of: str = "") -> None:
        self.values = {
            "done": done, "error": error, "error_field": error_field,
            "values": given.fields if given else {},
            "ticked": [f"{b.purpose}:{b.channel}" for b in given.consents] if given else [],
            "page_url": (given.page_url if given else page_of) or ""}


def _values(version: Version, tenant: Any, partners: dict[Any, list[str]],
            shown: Shown) -> tuple[str, dict[str, Any]]:
    language = language_of(version)
    return language, {"form": view(version, i18n.texts(language, tenant), partners),
                      **shown.values}


def hosted(version: Version, tenant: Any, partners: dict[Any, list[str]], shown: Shown, *,
           status: int = 200) -> Any:
    """The hosted page as a Litestar answer."""
    language, values = _values(version, tenant, partners, shown)
    rendered = page(TEMPLATE, language=language, tenant=tenant, title=N_("subscribe.title"),
                    status=status, **values)
    rendered.context["title"] = values["form"]["title"]  # the tenant's heading, or ours
    return rendered


def hosted_html(version: Version, tenant: Any, partners: dict[Any, list[str]]) -> str:
    """The same page as text: the admin's preview of an unsaved version."""
    language, values = _values(version, tenant, partners, Shown())
    return page_html(TEMPLATE, language=language, tenant=tenant, title=N_("subscribe.title"),
                     heading=values["form"]["title"], **values)
