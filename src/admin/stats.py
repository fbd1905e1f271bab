"""Figures for the admin's dashboard and agency overview, read from the ledger,
the consent states and the requests. Always one tenant per query, always
filtered on tenant_id; no Litestar, no HTML.

Bulk imports (ledger events with method `import`) are counted apart from
the daily opt-ins and withdrawals: one 20,000-row import would otherwise set
the chart's scale and flatten every other day, withdrawals included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from consent.requests.records import OPEN_SQL
from optinbase import db

OPT_INS = ("granted", "confirmed")
BULK = "import"


@dataclass
class OpenRequest:
    id: str
    kind: str
    status: str
    person: str  # the e-mail or phone the person gave ("" once erased)
    received: dt.datetime
    due: dt.datetime


@dataclass
class Dashboard:
    days: list[str]
    # channel → day → [opt-ins, withdrawals], bulk imports left out
    series: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    # channel → day → opt-ins that arrived by bulk import
    imported: dict[str, dict[str, int]] = field(default_factory=dict)
    requested: int = 0  # double opt-in e-mails sent (ledger action `requested`)
    confirmed: int = 0  # of which confirmed
    open_requests: int = 0
    overdue: int = 0
    due_this_week: int = 0
    # The first open data-subject requests, soonest due first (the counts are of all).
    requests: list[OpenRequest] = field(default_factory=list)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def confirmation_rate(self) -> float | None:
        return self.confirmed / self.requested if self.requested else None

    def totals(self, channel: str) -> tuple[int, int, int]:
        """(opt-ins, withdrawals, imported opt-ins) over the period."""
        per_day = self.series.get(channel, {})
        return (sum(v[0] for v in per_day.values()), sum(v[1] for v in per_day.values()),
                sum(self.imported.get(channel, {}).values()))

    @property
    def channels(self) -> list[str]:
        return sorted(set(self.series) | set(self.imported))


def _day_sql() -> str:
    # The day the person acted (collected_at), not the day it reached the ledger:
    # a form posted late or a batch sent overnight still counts on its own day.
    # Timestamps are UTC: PostgreSQL formats them, SQLite stores ISO text.
    if db.is_postgres():
        return "to_char(collected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "substr(collected_at, 1, 10)"


async def dashboard(tenant_id: uuid.UUID, days: int = 30) -> Dashboard:
    today = dt.datetime.now(dt.timezone.utc).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc)
    out = Dashboard(days=[(first + dt.timedelta(days=i)).isoformat() for i in range(days)])
    rows = await db.fetch(
        f"SELECT channel, action, {_day_sql()} AS day, method = {{}} AS bulk, count(*) AS n"
        " FROM consent_event WHERE tenant_id = {} AND collected_at >= {}"
        " AND action IN ('requested', 'granted', 'confirmed', 'withdrawn')"
        " GROUP BY channel, action, day, bulk",
        BULK, tenant_id, since,
    )
    series: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    imported: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        n = int(row["n"])
        if row["action"] == "requested":
            out.requested += n
            continue
        if row["action"] == "confirmed":
            out.confirmed += n
        if row["bulk"] and row["action"] in OPT_INS:
            imported[row["channel"]][row["day"]] += n
            continue
        series[row["channel"]][row["day"]][0 if row["action"] in OPT_INS else 1] += n
    out.series = {channel: dict(per_day) for channel, per_day in sorted(series.items())}
    out.imported = {channel: dict(per_day) for channel, per_day in sorted(imported.items())}
    # The first 200 open requests, each row also carrying the counts over all of them.
    soon = out.now + dt.timedelta(days=7)
    open_rows = await db.fetch(
        "SELECT id, kind, status, email, phone, received_at, due_at, count(*) OVER () AS total,"
        " sum(CASE WHEN due_at < {} THEN 1 ELSE 0 END) OVER () AS overdue,"
        " sum(CASE WHEN due_at >= {} AND due_at <= {} THEN 1 ELSE 0 END) OVER () AS soon"
        f" FROM data_subject_request WHERE tenant_id = {{}} AND status IN {OPEN_SQL}"
        " ORDER BY due_at, id LIMIT 200",
        out.now, out.now, soon, tenant_id,
    )
    if open_rows:
        first = open_rows[0]
        out.open_requests, out.overdue, out.due_this_week = (
            int(first["total"]), int(first["overdue"]), int(first["soon"]))
    out.requests = [OpenRequest(str(r["id"]), r["kind"], r["status"],
                                r["email"] or r["phone"] or "", _utc(r["received_at"]),
                                _utc(r["due_at"])) for r in open_rows]
    return out


def _utc(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass
class TenantSummary:
    """One line of the agency overview."""

    consented: dict[str, int]  # channel → contacts with a valid consent now
    opt_ins: int  # this calendar month (UTC), imports included
    withdrawals: int
    open_requests: int
    overdue_requests: int


async def summary(tenant_id: uuid.UUID) -> TenantSummary:
    now = dt.datetime.now(dt.timezone.utc)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    consented = await db.fetch(
        "SELECT channel, count(DISTINCT contact_id) AS n FROM consent_state"
        " WHERE tenant_id = {} AND status = 'granted' AND (expires_at IS NULL OR expires_at > {})"
        " GROUP BY channel",
        tenant_id, now,
    )
    moves = await db.fetch(
        "SELECT action, count(*) AS n FROM consent_event WHERE tenant_id = {}"
        " AND collected_at >= {} AND action IN ('granted', 'confirmed', 'withdrawn')"
        " GROUP BY action",
        tenant_id, month,
    )
    by_action = {r["action"]: int(r["n"]) for r in moves}
    requests = await db.fetchrow(
        "SELECT count(*) AS open, sum(CASE WHEN due_at < {} THEN 1 ELSE 0 END) AS overdue"
        f" FROM data_subject_request WHERE tenant_id = {{}} AND status IN {OPEN_SQL}",
        now, tenant_id,
    )
    return TenantSummary(
        consented={r["channel"]: int(r["n"]) for r in consented},
        opt_ins=by_action.get("granted", 0) + by_action.get("confirmed", 0),
        withdrawals=by_action.get("withdrawn", 0),
        open_requests=int(requests["open"] or 0),
        overdue_requests=int(requests["overdue"] or 0),
    )
