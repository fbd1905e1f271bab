"""The tenant dashboard: a server-rendered page in the admin with inline SVG charts
(no JavaScript). Agency staff switch tenant with `?tenant=<id>`."""

from __future__ import annotations

import uuid
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from admin import stats
from admin.scope import current_scope
from optinbase import db

W, H, PAD = 600, 140, 24


def _chart(channel: str, data: stats.Dashboard) -> str:
    per_day = data.series.get(channel, {})
    values = [per_day.get(day, [0, 0]) for day in data.days]
    top = max([1, *(max(v) for v in values)])
    step = (W - 2 * PAD) / len(data.days)
    bars = []
    for i, (ins, outs) in enumerate(values):
        x = PAD + i * step
        for j, (n, colour, label) in enumerate(((ins, "#2e7d32", "opt-ins"),
                                                (outs, "#c62828", "withdrawals"))):
            h = (H - 2 * PAD) * n / top
            bars.append(
                f'<rect x="{x + j * step / 2:.1f}" y="{H - PAD - h:.1f}" width="{step / 2 - 1:.1f}"'
                f' height="{h:.1f}" fill="{colour}"><title>{data.days[i]}: {n} {label}'
                f"</title></rect>"
            )
    return (
        f'<figure><figcaption>{escape(channel)}: opt-ins (green) and withdrawals (red),'
        f' last {len(data.days)} days</figcaption>'
        f'<svg role="img" aria-label="{escape(channel)} opt-ins and withdrawals" width="{W}"'
        f' height="{H}" viewBox="0 0 {W} {H}" data-channel="{escape(channel)}">'
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#999"/>'
        f'<text x="{PAD}" y="14" font-size="11">max {top}/day</text>{"".join(bars)}</svg></figure>'
    )


def _rate(data: stats.Dashboard) -> str:
    rate = data.confirmation_rate
    if rate is None:
        return "<p>No double opt-in was requested in this period.</p>"
    width = int((W - 2 * PAD) * rate)
    return (
        f"<p>{data.confirmed} confirmed of {data.requested} requested"
        f" (<strong>{rate:.0%}</strong>).</p>"
        f'<svg role="img" aria-label="confirmation rate {rate:.0%}" width="{W}" height="30">'
        f'<rect x="{PAD}" y="5" width="{W - 2 * PAD}" height="20" fill="#eee"/>'
        f'<rect x="{PAD}" y="5" width="{width}" height="20" fill="#1565c0"/></svg>'
    )


def _deadlines(data: stats.Dashboard) -> str:
    """Each open request against its deadline: a bar of the time used since
    receipt (the month, or the extended months), red once it is past due."""
    if not data.requests:
        return ""
    rows = []
    for request_id, kind, status, received, due in data.requests:
        days_left = (due - data.now).total_seconds() / 86400
        late = days_left < 0
        span = max((due - received).total_seconds(), 1.0)
        used = min(1.0, max(0.0, (data.now - received).total_seconds() / span))
        rows.append(
            f'<tr class="{"overdue" if late else "open"}"><td><code>{escape(request_id)}</code></td>'
            f"<td>{escape(kind)}</td><td>{escape(status)}</td>"
            f'<td>{due.strftime("%Y-%m-%d")}</td>'
            f'<td>{"<strong>overdue by %d day(s)</strong>" % -days_left if late else "%d day(s) left" % days_left}</td>'
            f'<td><svg role="img" aria-label="{used:.0%} of the time used" width="120" height="12">'
            f'<rect width="120" height="12" fill="#eee"/><rect width="{120 * used:.0f}" height="12"'
            f' fill="{"#c62828" if late else "#f9a825" if days_left < 7 else "#2e7d32"}"/></svg></td></tr>'
        )
    return (
        f'<p id="overdue-requests">{data.overdue} overdue</p>'
        '<table id="request-deadlines"><thead><tr><th>Request</th><th>Kind</th><th>Status</th>'
        "<th>Due</th><th>Left</th><th>Time used</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
        '<p><a href="/admin/#/data_subject_request">All requests</a> · handle them with the'
        ' forms under <a href="/admin/#/forms">Forms → Data-subject requests</a>.</p>'
    )


async def page(request: Request) -> Response:
    scope = current_scope.get()
    if scope.user_id is None:
        return RedirectResponse("/admin/", status_code=303)
    tenants = await _tenants(scope.tenant_ids)
    if not tenants:
        return HTMLResponse(_layout("<p>You are not a member of any tenant.</p>"))
    wanted = request.query_params.get("tenant", "")
    current = next((t for t in tenants if str(t["id"]) == wanted), tenants[0])
    data = await stats.dashboard(current["id"])
    switcher = " · ".join(
        f'<a href="?tenant={t["id"]}" aria-current="{"page" if t is current else "false"}">'
        f'{escape(t["name"])}</a>' for t in tenants
    )
    charts = "".join(_chart(c, data) for c in data.series) or "<p>No consent activity yet.</p>"
    body = (
        f"<nav>Tenants: {switcher}</nav>"
        f'<h1>Dashboard — <span id="tenant-name">{escape(current["name"])}</span></h1>'
        f'<p><a href="/admin/#/contact?tenant={current["id"]}">Contacts</a></p>'
        f"<h2>Opt-ins and withdrawals per channel</h2>{charts}"
        f"<h2>Double opt-in confirmation rate</h2>{_rate(data)}"
        f'<h2>Open data-subject requests</h2><p id="open-requests">{data.open_requests}</p>'
        f"{_deadlines(data)}"
    )
    return HTMLResponse(_layout(body))


async def _tenants(ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    if not ids:
        return []
    placeholders = ", ".join("{}" for _ in ids)
    rows = await db.fetch(
        f"SELECT id, name FROM tenant WHERE id IN ({placeholders}) ORDER BY name", *ids
    )
    return [{"id": r["id"] if isinstance(r["id"], uuid.UUID) else uuid.UUID(r["id"]),
             "name": r["name"]} for r in rows]


def _layout(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Optinbase dashboard'
        "</title><style>body{font-family:sans-serif;margin:2rem}figure{margin:1rem 0}"
        "</style></head><body>"
        '<p><a href="/admin/">← Back to the admin</a></p>'
        f"{body}</body></html>"
    )


def install(admin: Any) -> None:
    admin.add_route("/dashboard/", page, methods=["GET"])
