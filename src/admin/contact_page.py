"""The admin's contact pages: find a person by e-mail, phone or external id
across the staff member's tenants (no UUIDs to copy), then one page answering
"why may we (not) contact this person?" (admin.contact_facts).

`/admin/contacts/?q=…` searches; `/admin/contacts/{tenant_id}/{contact_id}/`
shows one contact. A tenant the staff member does not see, or a contact that
tenant does not have, answers 404 exactly like a missing one.
"""

from __future__ import annotations

import uuid
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from admin import contact_facts
from admin.dashboard import visible_tenants
from admin.look import cell, layout, staff_page, table
from admin.scope import AdminScope, acting
from optinbase.errors import NotFound
from optinbase.i18n import Texts

URL = "/admin/contacts/"


def contact_url(tenant_id: uuid.UUID, contact_id: uuid.UUID) -> str:
    return f"{URL}{tenant_id}/{contact_id}/"


@staff_page
async def search(request: Request, scope: AdminScope, t: Texts) -> Response:
    query = request.query_params.get("q", "")[:254]
    rows = []
    for tenant in await visible_tenants(scope):
        async with acting(scope, tenant["id"]) as ctx:
            found = await contact_facts.find(ctx, query)
        rows += [
            f'<tr><td><a href="{contact_url(tenant["id"], c.id)}">{cell(c.email or c.phone or c.external_id)}'
            f"</a></td><td>{cell(c.first_name)} {cell(c.last_name)}</td>"
            f'<td>{cell(c.phone)}</td><td>{cell(tenant["name"])}</td></tr>'
            for c in found
        ]
    results = ""
    if query.strip():
        results = table("contact-results", [
            t("admin.contact.email"), t("admin.contact.name"), t("admin.contact.phone"),
            t("admin.tenant")], rows) if rows else \
            f'<p id="contact-results">{t("admin.contact.none_found")}</p>'
    body = (
        f'<h1>{t("admin.contact.search_title")}</h1>'
        f'<form class="search" method="get" action="{URL}"><label for="q">'
        f'{t("admin.contact.search_label")}</label> <input id="q" name="q" type="search"'
        f' value="{escape(query)}" autofocus> <button type="submit">{t("admin.search")}</button>'
        f"</form>{results}"
    )
    return HTMLResponse(layout(request, scope, t("admin.contact.search_title"), body, URL))


@staff_page
async def show(request: Request, scope: AdminScope, t: Texts) -> Response:
    try:
        tenant_id = uuid.UUID(request.path_params["tenant_id"])
        contact_id = uuid.UUID(request.path_params["contact_id"])
        if not scope.sees(tenant_id):
            raise NotFound("contact not found")
        async with acting(scope, tenant_id) as ctx:
            facts = await contact_facts.gather(ctx, contact_id)
    except (ValueError, NotFound, LookupError):
        body = f'<h1>{t("admin.contact.not_found")}</h1><p><a href="{URL}">{t("admin.nav.contacts")}</a></p>'
        return HTMLResponse(layout(request, scope, t("admin.contact.not_found"), body), status_code=404)
    tenant = next((x for x in await visible_tenants(scope) if x["id"] == tenant_id), None)
    return HTMLResponse(layout(request, scope, facts.contact.email or t("admin.nav.contacts"),
                               render(t, facts, tenant["name"] if tenant else "")))


def render(t: Texts, facts: contact_facts.ContactFacts, tenant_name: str) -> str:
    c = facts.contact
    who = c.email or c.phone or c.external_id or str(c.id)
    name = " ".join(x for x in (c.first_name, c.last_name) if x)
    return (
        f'<h1 id="contact-title">{escape(who)}</h1>'
        f'<p class="muted">{escape(name)}{" · " if name else ""}{cell(c.phone) if c.email else ""}'
        f' · {t("admin.tenant")}: {escape(tenant_name)} · {t("admin.contact.since")}'
        f' {t.date(c.created_at)}</p>'
        + _restricted(t, facts) + _verdicts(t, facts) + _suppressions(t, facts)
        + _history(t, facts) + _requests(t, facts)
    )


def _restricted(t: Texts, facts: contact_facts.ContactFacts) -> str:
    return f'<p class="card no" id="restricted">{t("admin.contact.restricted")}</p>' \
        if facts.restricted else ""


def _verdicts(t: Texts, facts: contact_facts.ContactFacts) -> str:
    if not facts.verdicts:
        return f'<h2>{t("admin.contact.may_we")}</h2><p id="verdicts">{t("admin.contact.no_consent")}</p>'
    rows = []
    for state, verdict in facts.verdicts:
        why = [t(f"admin.status.{verdict.status}") if verdict.status in STATUSES else verdict.status]
        if verdict.suppressed:
            why.append(t("admin.contact.suppressed"))
        if verdict.restricted:
            why.append(t("admin.contact.restricted_short"))
        answer = (f'<span class="yes">{t("admin.yes")}</span>' if verdict.allowed
                  else f'<span class="no">{t("admin.no")}</span>')
        expires = t.date(state.expires_at) if state.expires_at else ""
        rows.append(
            f'<tr data-channel="{state.channel}" data-purpose="{escape(state.purpose)}">'
            f"<td>{escape(state.channel)}</td><td>{escape(state.purpose)}</td><td>{answer}</td>"
            f'<td>{", ".join(why)}</td><td>{t.date(state.since)}</td><td>{expires}</td></tr>'
        )
    return f'<h2>{t("admin.contact.may_we")}</h2>' + table("verdicts", [
        t("admin.channel"), t("admin.purpose"), t("admin.contact.allowed"),
        t("admin.contact.why"), t("admin.contact.since"), t("admin.contact.expires")], rows)


STATUSES = ("granted", "withdrawn", "refused", "pending", "expired", "none")


def _suppressions(t: Texts, facts: contact_facts.ContactFacts) -> str:
    if not facts.suppressions:
        return f'<h2>{t("admin.suppressions")}</h2><p id="suppressions">{t("admin.contact.not_suppressed")}</p>'
    rows = [
        f"<tr><td>{escape(s.channel)}</td><td>{escape(s.reason)}</td>"
        f"<td>{t.date(s.created_at)}</td><td><code>{s.identifier_hash[:16]}…</code></td></tr>"
        for s in facts.suppressions
    ]
    return f'<h2>{t("admin.suppressions")}</h2>' + table("suppressions", [
        t("admin.channel"), t("admin.reason"), t("admin.date"), t("admin.hash")], rows)


def _history(t: Texts, facts: contact_facts.ContactFacts) -> str:
    rows = [
        f'<tr><td class="n">{e.seq}</td><td>{t.datetime(e.recorded_at)}</td>'
        f"<td>{escape(e.channel)}</td><td>{escape(e.purpose)}</td><td>{escape(e.action)}</td>"
        f"<td>{escape(e.method)}</td><td>{facts.notice_label(e.notice_id)}</td>"
        f"<td>{cell(e.source)}</td></tr>"
        for e in facts.events
    ]
    more = f'<p class="muted">{t("admin.contact.more_events", n=len(facts.events))}</p>' \
        if facts.more_events else ""
    return f'<h2>{t("admin.contact.history")}</h2>' + table("history", [
        "#", t("admin.date"), t("admin.channel"), t("admin.purpose"), t("admin.contact.action"),
        t("admin.contact.method"), t("admin.contact.notice"), t("admin.contact.source")],
        rows) + more


def _requests(t: Texts, facts: contact_facts.ContactFacts) -> str:
    if not facts.requests:
        return f'<h2>{t("admin.requests")}</h2><p id="requests">{t("admin.contact.no_requests")}</p>'
    rows = [
        f"<tr><td>{escape(r.kind)}</td><td>{escape(r.status)}</td><td>{t.date(r.received_at)}</td>"
        f"<td>{t.date(r.due_at)}</td><td><code>{r.id}</code></td></tr>"
        for r in facts.requests
    ]
    return f'<h2>{t("admin.requests")}</h2>' + table("requests", [
        t("admin.request.kind"), t("admin.request.status"), t("admin.request.received"),
        t("admin.request.due"), t("admin.request.id")], rows)


def install(admin) -> None:
    admin.add_route("/contacts/", search, methods=["GET"])
    admin.add_route("/contacts/{tenant_id}/{contact_id}/", show, methods=["GET"])
