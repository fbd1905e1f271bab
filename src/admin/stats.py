"""Figures for the tenant dashboard, read from the ledger. Always one tenant,
always filtered on tenant_id; no Litestar, no HTML."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from optinbase import db

OPT_INS = ("granted", "confirmed")


@dataclass
class Dashboard:
    days: list[str]
    # channel → day → (opt-ins, withdrawals)
    series: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    requested: int = 0
    confirmed: int = 0
    open_requests: int = 0  # data-subject requests arrive with their own issue

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
    return out
