"""Builds the Piccolo Admin once per application (never per request: that costs
~90 ms and resets the login rate limiter) and wraps it in the tenant gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import piccolo_admin.endpoints as admin_endpoints
from piccolo_admin.endpoints import AdminRouter, TableConfig
from piccolo_admin.translations.data import ENGLISH, FRENCH
from piccolo_api.rate_limiting.middleware import RateLimitProvider

from admin import (
    audited,
    choices,
    connect_forms,
    contact_page,
    dashboard,
    form_builder,
    forms,
    request_forms,
    suppression_forms,
    tenant_forms,
    ui,
    views,
    wording,
    writers,
)
from admin.crud import POLICIES, ScopedCRUD, TablePolicy
from admin.gate import AdminGate
from admin.scope import ERASERS, current_scope
from consent import tables as consent_tables
from tenants.tables import Agency, ApiKey, Membership, StaffSession, StaffUser, Tenant

# create_admin always instantiates `piccolo_admin.endpoints.PiccoloCRUD`; the
# scoped subclass replaces it there (the only approach that held against the
# attack suite, see notes/stack-facts.md).
admin_endpoints.PiccoloCRUD = ScopedCRUD  # type: ignore[misc]

CONTROL = (StaffUser, Membership, StaffSession)


class LimitedInGate(RateLimitProvider):
    """piccolo_api's login limiter counts per process and per peer; the gate
    (admin.gate, `login`) limits failures per address and per account in the
    shared limiters instead, so this one lets everything through."""

    def increment(self, identifier: str) -> None:
        return None


def _policies() -> list[TableConfig]:
    c = consent_tables
    read_only = TablePolicy(read_only=True)
    POLICIES.update({
        Tenant: TablePolicy(kind="tenant_root", read_only=True),
        Agency: TablePolicy(kind="agency_root", read_only=True),
        c.Contact: TablePolicy(create=writers.create_contact, update=writers.update_contact,
                               delete=ERASERS, deleter=writers.erase_contact),
        # Purposes are referenced by notices and the ledger: edited, retired, never deleted.
        c.Purpose: TablePolicy(create=audited.create_purpose, update=audited.update_purpose,
                               delete=frozenset()),
        # Immutable once written; created through the service (version, digest).
        c.Notice: TablePolicy(create=writers.create_notice, update=writers.immutable,
                              delete=frozenset()),
        c.ConsentEvent: read_only,  # the ledger is append-only
        c.ConsentState: read_only,  # a projection of the ledger
        c.AuditEvent: read_only,
        # Requests change only through their forms (admin.request_forms), so
        # every transition is a service call with its trail event.
        c.DataSubjectRequest: read_only,
        c.RequestEvent: read_only,
        ApiKey: read_only,  # created and revoked through the forms only
    })
    optional = {"Segment": TablePolicy(create=audited.create_segment,
                                       update=audited.update_segment,
                                       deleter=audited.delete_segment),
                "Suppression": read_only, "ImportJob": read_only,
                # Re-consent campaigns: their progress (sent, confirmed, pending).
                "ReconsentCampaign": read_only}
    for name, policy in optional.items():
        table = getattr(c, name, None)
        if table is not None:
            POLICIES[table] = policy
    for table in CONTROL:
        POLICIES[table] = TablePolicy(kind="control")
    return views.table_configs()


AGENCY_OVERVIEW = "/admin/agency/"


class OptinbaseAdmin(wording.Translated, AdminRouter):
    """Staff tables are listed to superusers only; the Tenant and Agency tables
    to agency staff and superusers (a tenant's own staff have one tenant, shown
    on the dashboard, and no agency). Forms, groups and links speak the staff
    member's language (admin.wording)."""

    def _visible(self, name: str) -> bool:
        scope = current_scope.get()
        if scope.superuser:
            return True
        if name in {t._meta.tablename for t in CONTROL}:
            return False
        if name in (Tenant._meta.tablename, Agency._meta.tablename):
            return bool(scope.agency_ids)
        return True

    def get_single_form_schema(self, form_slug: str) -> dict[str, Any]:
        """The form's schema with its pick-lists (loaded by the gate)."""
        return choices.with_choices(super().get_single_form_schema(form_slug))

    def get_table_list(self) -> list[str]:
        return [n for n in super().get_table_list() if self._visible(n)]

    def get_sidebar_links(self) -> dict[str, str]:
        """The agency overview only for those who have one (it answers 404 to
        a tenant's own staff)."""
        scope = current_scope.get()
        shown = scope.superuser or bool(scope.agency_ids)
        return {name: url for name, url in super().get_sidebar_links().items()
                if shown or url != AGENCY_OVERVIEW}

    def get_table_list_grouped(self) -> Any:
        grouped = super().get_table_list_grouped()
        grouped.grouped = {
            g: [n for n in names if self._visible(n)] for g, names in grouped.grouped.items()
        }
        grouped.grouped = {g: names for g, names in grouped.grouped.items() if names}
        grouped.ungrouped = [n for n in grouped.ungrouped if self._visible(n)]
        return grouped


def build_admin(production: bool) -> AdminGate:
    admin = OptinbaseAdmin(
        *_policies(),
        forms=forms.FORMS + request_forms.FORMS + suppression_forms.FORMS + connect_forms.FORMS
              + tenant_forms.FORMS,
        auth_table=StaffUser,
        session_table=StaffSession,
        session_expiry=timedelta(hours=8),
        max_session_expiry=timedelta(days=7),
        rate_limit_provider=LimitedInGate(),
        production=production,
        site_name="Optinbase",
        # The languages of our own texts: Piccolo Admin's selector offers these.
        translations=[ENGLISH, FRENCH],
        sidebar_links={"Dashboard": "/admin/dashboard/", "Contacts": "/admin/contacts/",
                       "Form builder": "/admin/form-builder/",
                       "Agency overview": AGENCY_OVERVIEW},
    )
    dashboard.install(admin)
    contact_page.install(admin)
    form_builder.install(admin)
    ui.install(admin, [t._meta.tablename for t, p in POLICIES.items() if p.read_only])
    return AdminGate(admin)
