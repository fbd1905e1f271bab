"""Request rows and their trail: the named SQL every request step reads and
writes through, always filtered on tenant_id, plus the request's context for
e-mails (tenant, link key, public URL)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, NamedTuple, Optional

from consent.requests import deadlines
from consent.requests.schemas import OPEN, RequestEventOut, RequestOut
from optinbase import cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import Conflict, Gone, NotFound, invalid_field
from optinbase.settings import get_settings
from tenants import repository
from tenants.repository import TenantRecord

OPEN_SQL = "(" + ", ".join(f"'{status}'" for status in OPEN) + ")"
COLUMNS = (
    "id, kind, status, source, email, phone, subject_hash, contact_id, locale, note, changes,"
    " verification, received_at, verified_at, due_at, extended_months, extension_reason,"
    " closed_at, outcome, package_expires_at"
)
_ONE = f"SELECT {COLUMNS} FROM data_subject_request WHERE tenant_id = {{}} AND id = {{}}"
_TRAIL = (
    "SELECT at, actor, action, details FROM request_event"
    " WHERE tenant_id = {} AND request_id = {} ORDER BY at, id"
)
# Named lists: `open` (not closed), `overdue` (open, past due), `due_soon`
# (open, due within DUE_SOON), or a status.
LISTS = ("open", "overdue", "due_soon", "unverified", "verified", "completed", "rejected", "lapsed")


class Duplicate(Conflict):
    """The person already has an open request of this kind (`existing_id`)."""


class LinkGone(Gone):
    """An expired verification link, or a package past its time."""


class Mailing(NamedTuple):
    """What e-mails about a request need: the tenant (name, language, settings),
    the key that signs links and the base URL of the pages."""

    tenant: TenantRecord
    secret_key: str
    public_url: str


async def mailing(tenant_id: uuid.UUID) -> Mailing:
    tenant = await repository.tenant_by_id(tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    settings = get_settings()
    return Mailing(tenant, settings.secret_key, settings.public_url)



def request_out(row: Any, now: Optional[dt.datetime] = None,
                events: Optional[list[RequestEventOut]] = None) -> RequestOut:
    now = now or dt.datetime.now(dt.timezone.utc)
    return RequestOut(
        id=row["id"], kind=row["kind"], status=row["status"], source=row["source"],
        email=row["email"], phone=row["phone"],
        contact_id=None if row["contact_id"] is None else row["contact_id"],
        locale=row["locale"], note=row["note"], changes=row["changes"] or {},
        verification=row["verification"], received_at=row["received_at"],
        verified_at=row["verified_at"], due_at=row["due_at"],
        overdue=row["status"] in OPEN and deadlines.is_overdue(row["due_at"], now),
        extended_months=row["extended_months"], extension_reason=row["extension_reason"],
        closed_at=row["closed_at"], outcome=row["outcome"],
        package_expires_at=row["package_expires_at"], events=events,
    )


async def find(ctx: TenantContext, request_id: uuid.UUID, *, lock: bool = False) -> Any:
    """`lock`: for a transition — on PostgreSQL the row stays locked until the
    transaction ends, so two completions of one request run one after the
    other and the second sees the first's status (SQLite serialises writers)."""
    db.require_tenant(ctx.tenant_id)
    query = _ONE + (db.row_lock() if lock else "")
    row = await db.fetchrow(query, ctx.tenant_id, request_id)
    if row is None:
        raise NotFound("request not found")
    return row


async def trail(ctx: TenantContext, request_id: uuid.UUID) -> list[RequestEventOut]:
    return [
        RequestEventOut(at=r["at"], actor=r["actor"], action=r["action"],
                        details=r["details"] or {})
        for r in await db.fetch(_TRAIL, ctx.tenant_id, request_id)
    ]


async def get_request(ctx: TenantContext, request_id: uuid.UUID) -> RequestOut:
    row = await find(ctx, request_id)
    return request_out(row, events=await trail(ctx, request_id))


async def list_requests(ctx: TenantContext, *, status: Optional[str], limit: int,
                        cursor: Optional[str]) -> Page:
    db.require_tenant(ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    where, args = ["tenant_id = {}"], [ctx.tenant_id]
    if status is not None:
        if status not in LISTS:
            raise invalid_field("status", f"one of {', '.join(LISTS)}")
        if status in ("open", "overdue", "due_soon"):
            where.append(f"status IN {OPEN_SQL}")
            if status == "overdue":
                where.append("due_at < {}")
                args.append(now)
            elif status == "due_soon":
                where.append("due_at >= {} AND due_at <= {}")
                args += [now, now + deadlines.DUE_SOON]
        else:
            where.append("status = {}")
            args.append(status)
    if cursor:  # ordered by due date: what must be done first comes first
        after_due, after_id = cursors.decode_pair(cursor)
        where.append("(due_at > {} OR (due_at = {} AND id > {}))")
        args += [after_due, after_due, after_id]
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM data_subject_request WHERE {' AND '.join(where)}"
        " ORDER BY due_at, id LIMIT {}", *args, limit + 1,
    )
    items = [request_out(r, now) for r in rows[:limit]]
    next_cursor = cursors.encode_pair(items[-1].due_at, items[-1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def record_event(ctx: TenantContext, request_id: uuid.UUID, action: str,
                       details: Optional[dict[str, Any]] = None,
                       at: Optional[dt.datetime] = None) -> None:
    await db.execute(
        "INSERT INTO request_event (id, tenant_id, request_id, at, actor, action, details)"
        " VALUES ({}, {}, {}, {}, {}, {}, {})",
        uuid.uuid4(), ctx.tenant_id, request_id, at or dt.datetime.now(dt.timezone.utc),
        ctx.actor, action, json.dumps(details or {}),
    )


async def count_events(ctx: TenantContext, request_id: uuid.UUID, action: str,
                       since: dt.datetime) -> int:
    return int(await db.fetchval(
        "SELECT count(*) FROM request_event WHERE tenant_id = {} AND request_id = {}"
        " AND action = {} AND at >= {}", ctx.tenant_id, request_id, action, since))


async def update(ctx: TenantContext, request_id: uuid.UUID, **values: Any) -> Any:
    values["updated_at"] = dt.datetime.now(dt.timezone.utc)
    names = sorted(values)
    await db.execute(
        f"UPDATE data_subject_request SET {', '.join(f'{n} = {{}}' for n in names)}"
        " WHERE tenant_id = {} AND id = {}",
        *(values[n] for n in names), ctx.tenant_id, request_id,
    )
    return await find(ctx, request_id)


async def recipient(ctx: TenantContext, request: Any) -> Optional[str]:
    """Where to write to the person: the address they gave, else the one on file."""
    if request["email"]:
        return request["email"]
    if request["contact_id"] is not None:
        return await db.fetchval("SELECT email FROM contact WHERE tenant_id = {} AND id = {}",
                                 ctx.tenant_id, request["contact_id"])
    return None
