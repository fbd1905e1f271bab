"""Names instead of UUIDs for the admin's composite references.

The ledger, the consent states, the requests' trail and the re-consent
campaigns point at contacts, purposes, notices and requests through composite
`(tenant_id, x_id)` keys (issue 14), not Piccolo `ForeignKey` columns, so
Piccolo Admin cannot resolve them with `get_readable`. admin.crud marks these
columns as foreign keys in the table's schema (the SPA then renders the value
as a link to the row, with `<column>_readable` as its text, and offers a search
by name in the filters) and fills `<column>_readable` here.

Each name is read within the row's own tenant — one statement per tenant and
target, `tenant_id = {}` on every table — so a row that named another tenant's
id (it cannot: the composite keys refuse it) would read "not found", never
that tenant's data. A contact erased since (the ledger keeps the event, its
`contact_id` blanked or gone) reads "erased contact".
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, Awaitable, Callable

from admin.look import say
from admin.scope import as_uuid
from optinbase import db
from optinbase.i18n import N_

# table → column → the table it points at (within the row's tenant).
REFERENCES: dict[str, dict[str, str]] = {
    "consent_event": {"contact_id": "contact", "purpose_id": "purpose", "notice_id": "notice"},
    "consent_state": {"contact_id": "contact", "purpose_id": "purpose"},
    # a Piccolo ForeignKey, whose readable does not join (consent.tables.Notice)
    "notice": {"purpose": "purpose"},
    "data_subject_request": {"contact_id": "contact"},
    "request_event": {"request_id": "data_subject_request"},
    "reconsent_campaign": {"segment_id": "segment", "purpose_id": "purpose",
                           "notice_id": "notice"},
}

# The column's title in the SPA: what it points at, not "Contact Id".
TITLES = {"contact": N_("admin.ref.contact"), "purpose": N_("admin.ref.purpose"),
          "notice": N_("admin.ref.notice"), "data_subject_request": N_("admin.ref.request"),
          "segment": N_("admin.ref.segment")}
# What a reference reads when its row is not in the tenant (erased, or never was).
ERASED = N_("admin.ref.erased_contact")
# Blank only by erasure: the ledger keeps the event, blanks who it was about
# (the list shows the label there instead of NULL; admin.ui).
ERASED_WHEN_BLANK = {("consent_event", "contact_id")}
MISSING = N_("admin.ref.not_found")
NO_ADDRESS = N_("admin.ref.no_address")
REQUEST_OF = N_("admin.ref.request_of")  # "access, received December 1, 2026"

Names = dict[uuid.UUID, str]


def _marks(ids: list[uuid.UUID]) -> str:
    return ", ".join("{}" for _ in ids)


async def _contacts(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Names:
    rows = await db.fetch(
        "SELECT id, email, phone, external_id FROM contact"
        f" WHERE tenant_id = {{}} AND id IN ({_marks(ids)})", tenant_id, *ids)
    return {r["id"]: r["email"] or r["phone"] or r["external_id"] or say(NO_ADDRESS)
            for r in rows}


async def _purposes(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Names:
    rows = await db.fetch(
        f"SELECT id, key, name FROM purpose WHERE tenant_id = {{}} AND id IN ({_marks(ids)})",
        tenant_id, *ids)
    return {r["id"]: r["key"] if r["name"] in ("", r["key"]) else f'{r["name"]} ({r["key"]})'
            for r in rows}


async def _notices(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Names:
    rows = await db.fetch(
        "SELECT n.id, n.version, n.language, p.key FROM notice n"
        " JOIN purpose p ON p.tenant_id = n.tenant_id AND p.id = n.purpose_id"
        f" WHERE n.tenant_id = {{}} AND n.id IN ({_marks(ids)})", tenant_id, *ids)
    return {r["id"]: f'{r["key"]} v{r["version"]} ({r["language"]})' for r in rows}


async def _requests(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Names:
    rows = await db.fetch(
        "SELECT id, kind, received_at FROM data_subject_request"
        f" WHERE tenant_id = {{}} AND id IN ({_marks(ids)})", tenant_id, *ids)
    return {r["id"]: say(REQUEST_OF, kind=r["kind"],
                         date=r["received_at"]) for r in rows}


async def _segments(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> Names:
    rows = await db.fetch(
        f"SELECT id, name FROM segment WHERE tenant_id = {{}} AND id IN ({_marks(ids)})",
        tenant_id, *ids)
    return {r["id"]: r["name"] for r in rows}


LOOKUPS: dict[str, Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[Names]]] = {
    "contact": _contacts, "purpose": _purposes, "notice": _notices,
    "data_subject_request": _requests, "segment": _segments,
}


def absent(target: str) -> str:
    return say(ERASED if target == "contact" else MISSING)


async def attach(tablename: str, rows: list[dict[str, Any]]) -> None:
    """Adds `<column>_readable` to each row (as listed, with its `tenant`) for
    every reference column it carries; a row without its tenant gets none."""
    columns = {c: t for c, t in REFERENCES.get(tablename, {}).items()
               if any(c in row for row in rows)}
    wanted: dict[tuple[str, uuid.UUID], set[uuid.UUID]] = defaultdict(set)
    for row in rows:
        tenant_id = as_uuid(row.get("tenant"))
        for column, target in columns.items():
            value = as_uuid(row.get(column))
            if tenant_id is not None and value is not None:
                wanted[target, tenant_id].add(value)
    names: dict[tuple[str, uuid.UUID], Names] = {}
    for (target, tenant_id), ids in wanted.items():
        names[target, tenant_id] = await LOOKUPS[target](tenant_id, sorted(ids, key=str))
    for row in rows:
        tenant_id = as_uuid(row.get("tenant"))
        if tenant_id is None:
            continue
        for column, target in columns.items():
            value = as_uuid(row.get(column))
            known = names.get((target, tenant_id), {})
            row[f"{column}_readable"] = (
                absent(target) if value is None else known.get(value) or absent(target))


def schema(tablename: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The table's JSON schema with its references declared as foreign keys
    (Piccolo's own format: `extra.foreign_key.to`) under a title of their own."""
    for column, target in REFERENCES.get(tablename, {}).items():
        prop = schema.get("properties", {}).get(column)
        if prop is None:
            continue
        extra = prop.setdefault("extra", {})
        extra["foreign_key"] = {"to": target, "target_column": "id"}
        if (tablename, column) in ERASED_WHEN_BLANK:
            extra["null_label"] = say(ERASED)
        prop["title"] = say(TITLES[target])
    return schema
