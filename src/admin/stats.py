"""Figures for the tenant dashboard, read from the ledger. Always one tenant,
always filtered on tenant_id; no Litestar, no HTML."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from consent.requests.records import OPEN_SQL
from optinbase import db

OPT_INS = ("granted", "confirmed")


@dataclass
class Dashboard:
    days: list[str]
    # channel → day → (opt-ins, withdrawals)
    series: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    requested: int = 0
    confirmed: int = 0
    open_requests: int = 0
    # Open data-subject requests, soonest due first: (id, kind, status, received, due).
    requests: list[tuple[str, str, str, dt.datetime, dt.datetime]] = field(default_factory=list)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def overdue(self) -> int:
        return sum(1 for *_, due in self.requests if due < self.now)

    @property
    def confirmation_rate(self) -> float | None:
        return self.confirmed / self.requested if self.requested else None


def _day_sql() -> str:
    # Timestamps are UTC: PostgreSQL formats them, SQLite stores ISO text.
    if db.is_postgres():
        return "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "substr(recorded_at, 1, 10)"


async def dashboard(tenant_id: uuid.UUID, days: int = 30) -> Dashboard:
    today = dt.datetime.now(dt.timezone.utc).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc)
    out = Dashboard(days=[(first + dt.timedelta(days=i)).isoformat() for i in range(days)])
    rows = await db.fetch(
        f"SELECT channel, action, {_day_sql()} AS day, count(*) AS n FROM consent_event"
        " WHERE tenant_id = {} AND recorded_at >= {}"
        " AND action IN ('requested', 'granted', 'confirmed', 'withdrawn')"
        " GROUP BY channel, action, day",
        tenant_id, since,
    )
    series: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        n = int(row["n"])
        if row["action"] == "requested":
            out.requested += n
            continue
        if row["action"] == "confirmed":
            out.confirmed += n
        series[row["channel"]][row["day"]][0 if row["action"] in OPT_INS else 1] += n
    out.series = {channel: dict(per_day) for channel, per_day in sorted(series.items())}
    # The first 200 open requests, each row also carrying how many are open in all.
    open_rows = await db.fetch(
        "SELECT id, kind, status, received_at, due_at, count(*) OVER () AS total"
        f" FROM data_subject_request WHERE tenant_id = {{}} AND status IN {OPEN_SQL}"
        " ORDER BY due_at, id LIMIT 200",
        tenant_id,
    )
    out.open_requests = int(open_rows[0]["total"]) if open_rows else 0
    out.requests = [(str(r["id"]), r["kind"], r["status"], r["received_at"], r["due_at"])
                    for r in open_rows]
    return out
