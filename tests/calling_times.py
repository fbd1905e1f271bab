"""Times at which the French calling rules allow a call (consent.calling), for
tests that must not land on a weekend or a public holiday by the calendar."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from consent import calling

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def calling_slot(after: dt.datetime) -> dt.datetime:
    """The first 11:00 in Paris after `after` on a day calls are allowed."""
    day = after.astimezone(PARIS).replace(hour=11, minute=0, second=0, microsecond=0)
    while day <= after or calling.time_reason(day) is not None:
        day = (day + dt.timedelta(days=1)).replace(hour=11)
    return day
