"""The tenant dashboard and the agency overview: server-rendered pages in the
admin's look (admin.look) with inline SVG charts (no JavaScript). Agency staff
switch tenant with `?tenant=<id>`; every figure is also written out as a
number (totals, `data-*` attributes) so it can be read without the chart."""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from admin import stats
from admin.look import layout, staff_page
from admin.scope import AdminScope
from consent.schemas import CHANNELS
from optinbase import db
from optinbase.i18n import Texts

W, H, PAD, AXIS = 640, 170, 28, 22
IN, OUT, BULK = "#2e7d32", "#c62828", "#90a4ae"
URL = "/admin/dashboard/"
AGENCY_URL = "/admin/agency/"


def _chart(t: Texts, channel: str, data: stats.Dashboard) -> str:
    per_day = data.series.get(channel, {})
    values = [per_day.get(day, [0, 0]) for day in data.days]
    top = max([1, *(max(v) for v in values)])
    step = (W - 2 * PAD) / len(data.days)
    base = H - PAD - AXIS
    bars, ticks = [], []
    for i, (ins, outs) in enumerate(values):
        x = PAD + i * step
        for j, (n, colour, label) in enumerate(((ins, IN, t("admin.dashboard.opt_ins")),
                                                (outs, OUT, t("admin.dashboard.withdrawals")))):
            h = (base - PAD) * n / top
            bars.append(
                f'<rect x="{x + j * step / 2:.1f}" y="{base - h:.1f}" width="{step / 2 - 1:.1f}"'
                f' height="{h:.1f}" fill="{colour}" data-day="{data.days[i]}" data-n="{n}">'
                f"<title>{data.days[i]}: {n} {label}</title></rect>"
            )
        last = len(values) - 1
        if i == last or (i % 7 == 0 and last - i > 3):  # weekly dates, and the last day
            ticks.append(f'<text x="{x:.1f}" y="{base + 14}" font-size="10">'
                         f"{data.days[i][5:]}</text>")
    ins, outs, imported = data.totals(channel)
    bulk = (f' <span class="muted">{t("admin.dashboard.imported", n=imported)}</span>'
            if imported else "")
    return (
        f'<figure class="card" data-channel="{escape(channel)}" data-opt-ins="{ins}"'
        f' data-withdrawals="{outs}" data-imported="{imported}"><figcaption>'
        f"<strong>{escape(t(f'channel.{channel}'))}</strong> — "
        f'<span style="color:{IN}">{t("admin.dashboard.opt_ins")}: <b class="total-in">{ins}</b>'
        f'</span> · <span style="color:{OUT}">{t("admin.dashboard.withdrawals")}: '
        f'<b class="total-out">{outs}</b></span>{bulk}</figcaption>'
        f'<svg role="img" aria-label="{escape(channel)}: {ins} / {outs}" width="100%"'
        f' viewBox="0 0 {W} {H}" preserveAspectRatio="xMinYMin meet">'
        f'<line x1="{PAD}" y1="{base}" x2="{W - PAD}" y2="{base}" stroke="#999"/>'
        f'<text x="{PAD}" y="14" font-size="11">{t("admin.dashboard.max_per_day", n=top)}</text>'
        f'{"".join(bars)}{"".join(ticks)}</svg></figure>'
    )


def _imports(t: Texts, data: stats.Dashboard) -> str:
    if not data.imported:
        return ""
    rows = "".join(
        f'<tr><td>{day}</td><td>{escape(channel)}</td><td class="n">{n}</td></tr>'
        for channel, per_day in data.imported.items() for day, n in sorted(per_day.items())
    )
    return (
        f'<h2>{t("admin.dashboard.imports")}</h2><p class="muted">{t("admin.dashboard.imports_why")}'
        f'</p><table id="imports"><thead><tr><th>{t("admin.date")}</th><th>{t("admin.channel")}'
        f'</th><th class="n">{t("admin.dashboard.opt_ins")}</th></tr></thead><tbody>{rows}'
        "</tbody></table>"
    )


def _rate(t: Texts, data: stats.Dashboard) -> str:
    rate = data.confirmation_rate
    if rate is None:
        return f'<p id="double-opt-in">{t("admin.dashboard.no_double_opt_in")}</p>'
    width = int((W - 2 * PAD) * rate)
    return (
        f'<p id="double-opt-in" data-requested="{data.requested}" data-confirmed="{data.confirmed}"'
        f' data-rate="{rate:.4f}">'
        f'{t("admin.dashboard.confirmed_of", confirmed=data.confirmed, requested=data.requested)}'
        f" (<strong>{rate:.0%}</strong>)</p>"
        f'<svg role="img" aria-label="{rate:.0%}" width="{W}" height="30">'
        f'<rect x="{PAD}" y="5" width="{W - 2 * PAD}" height="20" fill="#eee"/>'
        f'<rect x="{PAD}" y="5" width="{width}" height="20" fill="#1565c0"/></svg>'
    )


def _deadlines(t: Texts, data: stats.Dashboard) -> str:
    """Each open request against its deadline: a bar of the time used since
    receipt (the month, or the extended months), red once it is past due."""
    tiles = (
        f'<div class="tiles"><div class="tile">{t("admin.dashboard.open")}'
        f'<strong id="open-requests">{data.open_requests}</strong></div>'
        f'<div class="tile">{t("admin.dashboard.due_week")}<strong id="due-requests">'
        f'{data.due_this_week}</strong></div><div class="tile">{t("admin.dashboard.overdue")}'
        f'<strong id="overdue-requests">{data.overdue}</strong></div></div>'
    )
    if not data.requests:
        return tiles
    rows = []
    for r in data.requests:
        received, due = r.received, r.due
        days_left = (due - data.now).total_seconds() / 86400
        late = days_left < 0
        span = max((due - received).total_seconds(), 1.0)
        used = min(1.0, max(0.0, (data.now - received).total_seconds() / span))
        left = (t("admin.dashboard.late_by", n=int(-days_left)) if late
                else t("admin.dashboard.days_left", n=int(days_left)))
        colour = OUT if late else "#f9a825" if days_left < 7 else IN
        rows.append(
            f'<tr class="{"overdue" if late else "open"}"><td title="{escape(r.id)}">'
            f"{escape(r.person)}</td><td>{escape(r.kind)}</td><td>{escape(r.status)}</td>"
            f"<td>{t.date(due)}</td>"
            f'<td>{"<strong>%s</strong>" % left if late else left}</td>'
            f'<td><svg role="img" aria-label="{used:.0%}" width="120" height="12">'
            f'<rect width="120" height="12" fill="#eee"/><rect width="{120 * used:.0f}" height="12"'
            f' fill="{colour}"/></svg></td></tr>'
        )
    return (
        tiles + f'<table id="request-deadlines"><thead><tr><th>{t("admin.request.person")}</th>'
        f'<th>{t("admin.request.kind")}</th><th>{t("admin.request.status")}</th>'
        f'<th>{t("admin.request.due")}</th><th>{t("admin.dashboard.left")}</th>'
        f'<th>{t("admin.dashboard.time_used")}</th></tr></thead><tbody>' + "".join(rows)
        + f'</tbody></table><p><a href="/admin/#/data_subject_request">'
        f'{t("admin.dashboard.all_requests")}</a></p>'
    )


@staff_page
async def page(request: Request, scope: AdminScope, t: Texts) -> Response:
    tenants = await visible_tenants(scope)
    if not tenants:
        return HTMLResponse(layout(request, scope, t("admin.nav.dashboard"),
                                   f'<p>{t("admin.no_tenant")}</p>', URL))
    wanted = request.query_params.get("tenant", "")
    current = next((x for x in tenants if str(x["id"]) == wanted), tenants[0])
    data = await stats.dashboard(current["id"])
    switcher = " ".join(
        f'<a href="?tenant={x["id"]}" aria-current="{"page" if x is current else "false"}">'
        f'{escape(x["name"])}</a>' for x in tenants
    ) if len(tenants) > 1 else ""
    charts = "".join(_chart(t, c, data) for c in data.channels) or \
        f'<p>{t("admin.dashboard.no_activity")}</p>'
    body = (
        (f'<nav class="tenants">{t("admin.tenants")}: {switcher}</nav>' if switcher else "")
        + f'<h1>{t("admin.nav.dashboard")} — <span id="tenant-name">{escape(current["name"])}'
        f'</span></h1><p class="muted">{t("admin.dashboard.period", n=len(data.days))}</p>'
        f'<h2>{t("admin.dashboard.per_channel")}</h2>{charts}{_imports(t, data)}'
        f'<h2>{t("admin.dashboard.double_opt_in")}</h2>{_rate(t, data)}'
        f'<h2>{t("admin.requests")}</h2>{_deadlines(t, data)}'
    )
    return HTMLResponse(layout(request, scope, t("admin.nav.dashboard"), body, URL))


@staff_page
async def agency(request: Request, scope: AdminScope, t: Texts) -> Response:
    """Agency staff: one line per tenant they see (superusers: every tenant)."""
    if not (scope.agency_ids or scope.superuser):
        return HTMLResponse(layout(request, scope, t("admin.nav.agency"),
                                   f'<p>{t("admin.agency.none")}</p>'), status_code=404)
    channels = CHANNELS  # every channel the seed names, social ads and push too
    rows = []
    for tenant in await visible_tenants(scope):
        s = await stats.summary(tenant["id"])
        consented = "".join(f'<td class="n" data-channel="{c}">{s.consented.get(c, 0)}</td>'
                            for c in channels)
        rows.append(
            f'<tr data-tenant="{tenant["id"]}"><td><a href="{URL}?tenant={tenant["id"]}">'
            f'{escape(tenant["name"])}</a></td>{consented}'
            f'<td class="n opt-ins">{s.opt_ins}</td><td class="n withdrawals">{s.withdrawals}</td>'
            f'<td class="n open">{s.open_requests}</td>'
            f'<td class="n overdue{" no" if s.overdue_requests else ""}">{s.overdue_requests}</td>'
            "</tr>"
        )
    head = "".join(f'<th class="n">{escape(t(f"channel.{c}"))}</th>' for c in channels)
    body = (
        f'<h1>{t("admin.agency.title")}</h1><p class="muted">{t("admin.agency.explain")}</p>'
        f'<table id="agency-overview"><thead><tr><th>{t("admin.tenant")}</th>{head}'
        f'<th class="n">{t("admin.agency.opt_ins_month")}</th>'
        f'<th class="n">{t("admin.agency.withdrawals_month")}</th>'
        f'<th class="n">{t("admin.dashboard.open")}</th>'
        f'<th class="n">{t("admin.dashboard.overdue")}</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )
    return HTMLResponse(layout(request, scope, t("admin.agency.title"), body, AGENCY_URL))


async def visible_tenants(scope: AdminScope) -> list[dict[str, Any]]:
    """The tenants this staff member sees, by name."""
    ids = scope.tenant_ids
    if not ids:
        return []
    placeholders = ", ".join("{}" for _ in ids)
    rows = await db.fetch(
        f"SELECT id, name FROM tenant WHERE id IN ({placeholders}) ORDER BY name", *ids
    )
    return [{"id": r["id"], "name": r["name"]} for r in rows]


def install(admin: Any) -> None:
    admin.add_route("/dashboard/", page, methods=["GET"])
    admin.add_route("/agency/", agency, methods=["GET"])
