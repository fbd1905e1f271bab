"""Pick-lists for the admin's forms, so nobody copies a UUID: the request forms
offer the staff member's open requests by person, kind and due date.

Piccolo Admin reads a form's JSON schema (`/api/forms/<slug>/schema/`) in a
synchronous handler, which cannot query the database; the gate therefore loads
the choices first, inside the staff transaction, into a context variable that
`OptinbaseAdmin.get_single_form_schema` reads (the thread pool copies the
context). The SPA shows a select for a property with `extra.choices`. The form
still accepts a pasted id or the person's e-mail (admin.request_forms).
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

from admin.dashboard import visible_tenants
from admin.scope import AdminScope
from consent.requests.records import OPEN_SQL
from optinbase import db

SCHEMA_PATH = re.compile(r"^/api/forms/[a-z0-9-]+/schema/?$")
PER_TENANT = 200
# field name → {value: {"display_name": ..., "value": ...}}
PICKS: contextvars.ContextVar[dict[str, dict[str, dict[str, str]]]] = contextvars.ContextVar(
    "optinbase_admin_choices", default={})


async def open_requests(scope: AdminScope) -> dict[str, dict[str, str]]:
    names = ({t["id"]: t["name"] for t in await visible_tenants(scope)}
             if len(scope.tenant_ids) > 1 else {})
    choices: dict[str, dict[str, str]] = {}
    for tenant_id in scope.tenant_ids:
        rows = await db.fetch(
            "SELECT id, kind, status, email, phone, due_at FROM data_subject_request"
            f" WHERE tenant_id = {{}} AND status IN {OPEN_SQL} ORDER BY due_at LIMIT {{}}",
            tenant_id, PER_TENANT,
        )
        for r in rows:
            due = str(r["due_at"])[:10]
            who = r["email"] or r["phone"] or "?"
            where = f"{names[tenant_id]} · " if tenant_id in names else ""
            label = f"{where}{who} · {r['kind']} · {r['status']} · due {due}"
            choices[str(r["id"])] = {"display_name": label, "value": str(r["id"])}
    return choices


async def load(scope: AdminScope) -> contextvars.Token:
    return PICKS.set({"request_id": await open_requests(scope)})


def with_choices(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    for name, choices in PICKS.get().items():
        if name in properties and choices:
            properties[name].setdefault("extra", {})["choices"] = choices
    return schema
