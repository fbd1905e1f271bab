"""The admin's own words inside Piccolo Admin's screens — custom form names,
descriptions, field labels and help, menu groups, sidebar links — in the staff
member's language (admin.look.LANGUAGE, decided by the gate the way Piccolo
Admin decides its own: admin.look.staff_language).

The SPA fetches these from the admin's JSON API; `Translated` rewrites those
answers (the forms' slugs, their URLs, stay as they are). The English names
given to FormConfig and TableConfig are the keys here; their texts, in both
languages, are catalogue messages (optinbase.i18n), each id named with `N_` so
`make messages` finds it. tests/admin/test_admin_language.py fails when a form,
a field, a group or a link has no words here."""

from __future__ import annotations

from typing import Any

from admin.look import say
from optinbase.i18n import N_

# form slug → (name, description)
FORMS: dict[str, tuple[str, str]] = {
    "create-api-key": (N_("admin.forms.create_key"), N_("admin.forms.create_key.about")),
    "revoke-api-key": (N_("admin.forms.revoke_key"), N_("admin.forms.revoke_key.about")),
    "record-a-request": (N_("admin.forms.record_request"),
                         N_("admin.forms.record_request.about")),
    "verify-identity": (N_("admin.forms.verify_identity"),
                        N_("admin.forms.verify_identity.about")),
    "extend-deadline": (N_("admin.forms.extend"), N_("admin.forms.extend.about")),
    "complete-request": (N_("admin.forms.complete"), N_("admin.forms.complete.about")),
    "reject-request": (N_("admin.forms.reject"), N_("admin.forms.reject.about")),
    "erase-contact": (N_("admin.forms.erase"), N_("admin.forms.erase.about")),
    "look-up-suppression": (N_("admin.forms.look_up"), N_("admin.forms.look_up.about")),
    "add-suppression": (N_("admin.forms.suppress"), N_("admin.forms.suppress.about")),
    "remove-suppression": (N_("admin.forms.unsuppress"), N_("admin.forms.unsuppress.about")),
    "connect-an-e-mail-provider": (N_("admin.forms.connect"), N_("admin.forms.connect.about")),
    "save-an-embeddable-form": (N_("admin.forms.embed"), N_("admin.forms.embed.about")),
    "branding-and-legal-information": (N_("admin.forms.branding"),
                                       N_("admin.forms.branding.about")),
}

# Form groups and menu groups (the SPA's sidebar headings).
GROUPS: dict[str, str] = {
    "API keys": N_("admin.group.keys"),
    "Data-subject requests": N_("admin.group.requests"),
    "Suppression list": N_("admin.group.suppressions"),
    "Connected": N_("admin.group.connected"),
    "Tenant settings": N_("admin.group.tenant_settings"),
    "Consent": N_("admin.group.consent"),
    "Contacts": N_("admin.group.contacts"),
    "Requests": N_("admin.group.requests_tables"),
    "Settings": N_("admin.group.settings"),
    "Staff": N_("admin.group.staff"),
    "Tenants": N_("admin.group.tenants"),
}

# Sidebar links, by where they lead (the admin's own pages: admin.look's names).
LINKS: dict[str, str] = {
    "/admin/dashboard/": N_("admin.nav.dashboard"),
    "/admin/contacts/": N_("admin.nav.contacts"),
    "/admin/agency/": N_("admin.nav.agency"),
    "/admin/form-builder/": N_("admin.nav.forms"),
}

# Field name → its label, in every form that has the field.
LABELS: dict[str, str] = {
    "tenant": N_("admin.field.tenant"),
    "name": N_("admin.field.name"),
    "scopes": N_("admin.field.scopes"),
    "expires_in_days": N_("admin.field.expires_in_days"),
    "key_id": N_("admin.field.key_id"),
    "kind": N_("admin.field.kind"),
    "email": N_("admin.field.email"),
    "phone": N_("admin.field.phone"),
    "identity_checked": N_("admin.field.identity_checked"),
    "note": N_("admin.field.note"),
    "request_id": N_("admin.field.request_id"),
    "how_identity_was_checked": N_("admin.field.how_identity_was_checked"),
    "months": N_("admin.field.months"),
    "reason": N_("admin.field.reason"),
    "changes": N_("admin.field.changes"),
    "contact_id": N_("admin.field.contact_id"),
    "confirm": N_("admin.field.confirm"),
    "channel": N_("admin.field.channel"),
    "provider": N_("admin.field.provider"),
    "verification_key": N_("admin.field.verification_key"),
    "signing_key": N_("admin.field.signing_key"),
    "topic_arn": N_("admin.field.topic_arn"),
    "form_id": N_("admin.field.form_id"),
    "purposes": N_("admin.field.purposes"),
    "channels": N_("admin.field.channels"),
    "language": N_("admin.field.language"),
    "fields": N_("admin.field.fields"),
    "title": N_("admin.field.title"),
    "intro": N_("admin.field.intro"),
    "colour": N_("admin.field.colour"),
    "allowed_origins": N_("admin.field.allowed_origins"),
    "redirect_url": N_("admin.field.redirect_url"),
    "double_opt_in": N_("admin.field.double_opt_in"),
    "legal_name": N_("admin.field.legal_name"),
    "address": N_("admin.field.address"),
    "dpo_name": N_("admin.field.dpo_name"),
    "dpo_email": N_("admin.field.dpo_email"),
    "dpo_address": N_("admin.field.dpo_address"),
    "policy_url": N_("admin.field.policy_url"),
    "logo_url": N_("admin.field.logo_url"),
    "primary_color": N_("admin.field.primary_color"),
    "accent_color": N_("admin.field.accent_color"),
    "sender_name": N_("admin.field.sender_name"),
    "reply_to": N_("admin.field.reply_to"),
    "footer_text": N_("admin.field.footer_text"),
}

# A field's help: "form-slug field" where it differs between forms, else "field".
HELP: dict[str, str] = {
    "tenant": N_("admin.help.tenant"),
    "request_id": N_("admin.help.request_id"),
    "scopes": N_("admin.help.scopes"),
    "key_id": N_("admin.help.key_id"),
    "identity_checked": N_("admin.help.identity_checked"),
    "extend-deadline reason": N_("admin.help.extend_reason"),
    "complete-request reason": N_("admin.help.complete_reason"),
    "reject-request reason": N_("admin.help.reject_reason"),
    "remove-suppression reason": N_("admin.help.unsuppress_reason"),
    "changes": N_("admin.help.changes"),
    "contact_id": N_("admin.help.contact_id"),
    "confirm": N_("admin.help.confirm"),
    "add-suppression channel": N_("admin.help.suppress_channel"),
    "verification_key": N_("admin.help.verification_key"),
    "signing_key": N_("admin.help.signing_key"),
    "topic_arn": N_("admin.help.topic_arn"),
    "form_id": N_("admin.help.form_id"),
    "purposes": N_("admin.help.purposes"),
    "channels": N_("admin.help.channels"),
    "fields": N_("admin.help.fields"),
    "allowed_origins": N_("admin.help.allowed_origins"),
    "legal_name": N_("admin.help.legal_name"),
    "address": N_("admin.help.address"),
    "dpo_name": N_("admin.help.dpo_name"),
    "dpo_email": N_("admin.help.dpo_email"),
    "dpo_address": N_("admin.help.dpo_address"),
    "policy_url": N_("admin.help.policy_url"),
    "logo_url": N_("admin.help.logo_url"),
    "primary_color": N_("admin.help.primary_color"),
    "accent_color": N_("admin.help.accent_color"),
    "sender_name": N_("admin.help.sender_name"),
    "reply_to": N_("admin.help.reply_to"),
    "footer_text": N_("admin.help.footer_text"),
}


def _said(table: dict[str, str], key: Any, default: Any) -> Any:
    msgid = table.get(key) if isinstance(key, str) else None
    return say(msgid) if msgid else default


def form_schema(slug: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A form's JSON schema with its title, labels and help in the staff
    member's language; the help goes where the SPA shows it (`extra.help_text`,
    a tooltip beside the label), the description stays for other readers."""
    names = FORMS.get(slug)
    if names:
        schema["title"] = say(names[0])
    for field, prop in schema.get("properties", {}).items():
        prop["title"] = _said(LABELS, field, prop.get("title"))
        msgid = HELP.get(f"{slug} {field}") or HELP.get(field)
        if msgid:
            prop["description"] = say(msgid)
            prop.setdefault("extra", {})["help_text"] = prop["description"]
    return schema


def form(config: Any) -> Any:
    """A FormConfigResponseModel with the form's name and description translated."""
    names = FORMS.get(config.slug)
    if names:
        config.name, config.description = say(names[0]), say(names[1])
    return config


def groups(grouped: dict[str, Any]) -> dict[str, Any]:
    return {_said(GROUPS, name, name): members for name, members in grouped.items()}


def links(sidebar: dict[str, str]) -> dict[str, str]:
    return {_said(LINKS, url, name): url for name, url in sidebar.items()}


class Translated:
    """Mixed into the admin's AdminRouter: the answers the SPA builds its menus
    and forms from, in the staff member's language."""

    def get_forms(self) -> Any:
        return [form(f) for f in super().get_forms()]  # type: ignore[misc]

    def get_grouped_forms(self) -> Any:
        grouped = super().get_grouped_forms()  # type: ignore[misc]
        grouped.grouped = groups({g: [form(f) for f in fs] for g, fs in grouped.grouped.items()})
        grouped.ungrouped = [form(f) for f in grouped.ungrouped]
        return grouped

    def get_single_form(self, form_slug: str) -> Any:
        return form(super().get_single_form(form_slug))  # type: ignore[misc]

    def get_single_form_schema(self, form_slug: str) -> dict[str, Any]:
        return form_schema(form_slug, super().get_single_form_schema(form_slug))  # type: ignore[misc]

    def get_sidebar_links(self) -> dict[str, str]:
        return links(super().get_sidebar_links())  # type: ignore[misc]

    def get_table_list_grouped(self) -> Any:
        grouped = super().get_table_list_grouped()  # type: ignore[misc]
        grouped.grouped = groups(grouped.grouped)
        return grouped
