"""How each table reads in the admin: the columns a person needs (no hashes,
blobs or mostly-empty columns, which show as `NULL` noise), foreign keys shown by
name (each table's `get_readable`; the composite references to contacts,
purposes, notices and requests by name too, admin.references), and the newest
first where time is what matters (ledger, audit, requests, suppressions, imports)."""

from __future__ import annotations

from typing import Any

from piccolo_admin.endpoints import TableConfig
from piccolo_api.crud.endpoints import OrderBy

from consent import tables as c
from tenants.tables import Agency, ApiKey, Membership, StaffSession, StaffUser, Tenant


def _newest(column: Any) -> list[OrderBy]:
    return [OrderBy(column=column, ascending=False)]


def table_configs() -> list[TableConfig]:
    configs = [
        TableConfig(Tenant, menu_group="Tenants",
                    visible_columns=[Tenant.name, Tenant.slug, Tenant.country, Tenant.agency,
                                     Tenant.dpo_email, Tenant.created_at]),
        TableConfig(Agency, menu_group="Tenants",
                    visible_columns=[Agency.name, Agency.slug, Agency.created_at]),
        TableConfig(c.Contact, menu_group="Contacts", link_column=c.Contact.email,
                    visible_columns=[c.Contact.email, c.Contact.phone, c.Contact.first_name,
                                     c.Contact.last_name, c.Contact.country, c.Contact.tenant,
                                     c.Contact.created_at],
                    visible_filters=[c.Contact.email, c.Contact.phone, c.Contact.tenant,
                                     c.Contact.country],
                    order_by=_newest(c.Contact.created_at)),
        TableConfig(c.ConsentState, menu_group="Contacts",
                    visible_columns=[c.ConsentState.contact_id, c.ConsentState.channel,
                                     c.ConsentState.purpose_id, c.ConsentState.status, c.ConsentState.since,
                                     c.ConsentState.expires_at, c.ConsentState.tenant],
                    order_by=_newest(c.ConsentState.since)),
        TableConfig(c.ConsentEvent, menu_group="Contacts",
                    visible_columns=[c.ConsentEvent.seq, c.ConsentEvent.recorded_at,
                                     c.ConsentEvent.contact_id, c.ConsentEvent.channel,
                                     c.ConsentEvent.purpose_id, c.ConsentEvent.action,
                                     c.ConsentEvent.notice_id, c.ConsentEvent.method,
                                     c.ConsentEvent.tenant],
                    visible_filters=[c.ConsentEvent.contact_id, c.ConsentEvent.channel,
                                     c.ConsentEvent.purpose_id,
                                     c.ConsentEvent.action, c.ConsentEvent.method],
                    order_by=_newest(c.ConsentEvent.seq)),
        TableConfig(c.DataSubjectRequest, menu_group="Requests",
                    visible_columns=[c.DataSubjectRequest.received_at,
                                     c.DataSubjectRequest.kind, c.DataSubjectRequest.status,
                                     c.DataSubjectRequest.due_at, c.DataSubjectRequest.email,
                                     c.DataSubjectRequest.source,
                                     c.DataSubjectRequest.extended_months,
                                     c.DataSubjectRequest.tenant],
                    visible_filters=[c.DataSubjectRequest.tenant, c.DataSubjectRequest.kind,
                                     c.DataSubjectRequest.status, c.DataSubjectRequest.due_at],
                    order_by=_newest(c.DataSubjectRequest.received_at)),
        TableConfig(c.RequestEvent, menu_group="Requests",
                    visible_columns=[c.RequestEvent.at, c.RequestEvent.request_id,
                                     c.RequestEvent.action, c.RequestEvent.actor,
                                     c.RequestEvent.tenant],
                    order_by=_newest(c.RequestEvent.at)),
        TableConfig(c.Purpose, menu_group="Consent",
                    visible_columns=[c.Purpose.key, c.Purpose.name, c.Purpose.legal_basis,
                                     c.Purpose.retired, c.Purpose.tenant]),
        TableConfig(c.Notice, menu_group="Consent",
                    visible_columns=[c.Notice.purpose, c.Notice.version, c.Notice.language,
                                     c.Notice.channels, c.Notice.text, c.Notice.created_at,
                                     c.Notice.tenant],
                    order_by=_newest(c.Notice.created_at)),
        TableConfig(c.AuditEvent, menu_group="Settings",
                    visible_columns=[c.AuditEvent.at, c.AuditEvent.actor, c.AuditEvent.action,
                                     c.AuditEvent.object_type, c.AuditEvent.details,
                                     c.AuditEvent.tenant],
                    visible_filters=[c.AuditEvent.actor, c.AuditEvent.action,
                                     c.AuditEvent.object_type, c.AuditEvent.tenant],
                    order_by=_newest(c.AuditEvent.at)),
        TableConfig(ApiKey, menu_group="Settings",
                    visible_columns=[ApiKey.name, ApiKey.key_id, ApiKey.tenant, ApiKey.scopes,
                                     ApiKey.last_used_at, ApiKey.revoked_at]),
        TableConfig(StaffUser, menu_group="Staff"),
        TableConfig(Membership, menu_group="Staff"),
        TableConfig(StaffSession, menu_group="Staff"),
    ]
    optional = {
        "Segment": lambda t: TableConfig(t, menu_group="Contacts",
                                         visible_columns=[t.name, t.rules, t.updated_at,
                                                          t.tenant]),
        "Suppression": lambda t: TableConfig(
            t, menu_group="Contacts",
            visible_columns=[t.created_at, t.channel, t.reason, t.kind, t.identifier_hash,
                             t.tenant],
            visible_filters=[t.channel, t.reason, t.identifier_hash, t.tenant],
            order_by=_newest(t.created_at)),
        "ImportJob": lambda t: TableConfig(
            t, menu_group="Settings",
            visible_columns=[t.created_at, t.status, t.format, t.total, t.created, t.updated,
                             t.rejected, t.tenant],
            order_by=_newest(t.created_at)),
        # A re-permission campaign's progress (consent.campaigns).
        "ReconsentCampaign": lambda t: TableConfig(
            t, menu_group="Consent",
            visible_columns=[t.created_at, t.name, t.channel, t.sent, t.confirmed, t.pending,
                             t.tenant],
            order_by=_newest(t.created_at)),
    }
    for name, make in optional.items():
        table = getattr(c, name, None)
        if table is not None:
            configs.append(make(table))
    return configs
