"""Builds the Piccolo Admin once per application (never per request: that costs
~90 ms and resets the login rate limiter) and wraps it in the tenant gate."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Optional

import piccolo_admin.endpoints as admin_endpoints
from piccolo_admin.endpoints import AdminRouter, TableConfig
from piccolo_api.rate_limiting.middleware import InMemoryLimitProvider

from admin import dashboard, forms, request_forms, writers
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


class LoginLimit(InMemoryLimitProvider):
    """piccolo_api's in-memory limiter, but a lock that has run out starts the
    count afresh (the stock one re-blocks at once until its window resets)."""

    def is_already_blocked(self, identifier: str) -> bool:
        blocked = super().is_already_blocked(identifier)
        if not blocked and identifier not in self.blocked:
            if self.request_dict.get(identifier, 0) > self.limit:
                self.request_dict[identifier] = 0
        return blocked


def _policies() -> list[TableConfig]:
    c = consent_tables
    read_only = TablePolicy(read_only=True)
    POLICIES.update({
        Tenant: TablePolicy(kind="tenant_root", read_only=True),
        Agency: TablePolicy(kind="agency_root", read_only=True),
        c.Contact: TablePolicy(create=writers.create_contact, update=writers.update_contact,
                               delete=ERASERS, deleter=writers.erase_contact),
        c.Purpose: TablePolicy(),
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
    configs = [
        TableConfig(Tenant, menu_group="Tenants", exclude_visible_columns=[Tenant.settings]),
        TableConfig(Agency, menu_group="Tenants"),
        TableConfig(c.Contact, menu_group="Contacts",
                    exclude_visible_columns=[c.Contact.email_hash, c.Contact.phone_hash,
                                             c.Contact.attributes]
                    if hasattr(c.Contact, "email_hash") else [c.Contact.attributes]),
        TableConfig(c.ConsentState, menu_group="Contacts"),
        TableConfig(c.ConsentEvent, menu_group="Contacts",
                    visible_columns=[c.ConsentEvent.id, c.ConsentEvent.tenant,
                                     c.ConsentEvent.seq, c.ConsentEvent.contact_id,
                                     c.ConsentEvent.channel, c.ConsentEvent.action,
                                     c.ConsentEvent.method, c.ConsentEvent.collected_at]),
        TableConfig(c.DataSubjectRequest, menu_group="Requests",
                    visible_columns=[c.DataSubjectRequest.id, c.DataSubjectRequest.tenant,
                                     c.DataSubjectRequest.kind, c.DataSubjectRequest.status,
                                     c.DataSubjectRequest.due_at, c.DataSubjectRequest.email,
                                     c.DataSubjectRequest.received_at,
                                     c.DataSubjectRequest.source,
                                     c.DataSubjectRequest.extended_months],
                    visible_filters=[c.DataSubjectRequest.tenant, c.DataSubjectRequest.kind,
                                     c.DataSubjectRequest.status, c.DataSubjectRequest.due_at]),
        TableConfig(c.RequestEvent, menu_group="Requests"),
        TableConfig(c.Purpose, menu_group="Consent"),
        TableConfig(c.Notice, menu_group="Consent"),
        TableConfig(c.AuditEvent, menu_group="Settings"),
        TableConfig(ApiKey, menu_group="Settings"),
        TableConfig(StaffUser, menu_group="Staff"),
        TableConfig(Membership, menu_group="Staff"),
        TableConfig(StaffSession, menu_group="Staff"),
    ]
    # Tables other engineers are adding: registered when present.
    optional = {"Segment": TablePolicy(), "Suppression": read_only, "ImportJob": read_only,
                # Re-consent campaigns: their progress (sent, confirmed, pending).
                "ReconsentCampaign": read_only}
    for name, policy in optional.items():
        table = getattr(c, name, None)
        if table is not None:
            POLICIES[table] = policy
            configs.append(TableConfig(table, menu_group="Contacts" if name != "ImportJob"
                                       else "Settings"))
    for table in CONTROL:
        POLICIES[table] = TablePolicy(kind="control")
    return configs


class OptinbaseAdmin(AdminRouter):
    """Staff tables are listed to superusers only."""

    def _visible(self, name: str) -> bool:
        hidden = {t._meta.tablename for t in CONTROL}
        return current_scope.get().superuser or name not in hidden

    def get_table_list(self) -> list[str]:
        return [n for n in super().get_table_list() if self._visible(n)]

    def get_table_list_grouped(self) -> Any:
        grouped = super().get_table_list_grouped()
        grouped.grouped = {
            g: [n for n in names if self._visible(n)] for g, names in grouped.grouped.items()
        }
        grouped.grouped = {g: names for g, names in grouped.grouped.items() if names}
        grouped.ungrouped = [n for n in grouped.ungrouped if self._visible(n)]
        return grouped


def lock_seconds() -> int:
    return int(os.environ.get("ADMIN_LOGIN_LOCK_SECONDS") or 900)


def build_admin(production: bool, key_authenticator: Optional[Any] = None) -> AdminGate:
    forms.KEY_AUTHENTICATOR = key_authenticator
    admin = OptinbaseAdmin(
        *_policies(),
        forms=forms.FORMS + request_forms.FORMS,
        auth_table=StaffUser,
        session_table=StaffSession,
        session_expiry=timedelta(hours=8),
        max_session_expiry=timedelta(days=7),
        # 20 login requests per 5 minutes and IP, then locked out for a while.
        rate_limit_provider=LoginLimit(timespan=300, limit=20, block_duration=lock_seconds()),
        production=production,
        site_name="Optinbase",
        sidebar_links={"Dashboard": "/admin/dashboard/"},
    )
    dashboard.install(admin)
    return AdminGate(admin)
