"""GDPR Art. 12(3) deadlines: one calendar month from receipt, extendable by up
to two further months while the first month runs.

Months are counted as Regulation 1182/71 counts them: the same day of the
month, or the month's last day when it has no such day (31 January → 28 or
29 February). An extension is counted from receipt, not from the clamped due
date, so 31 January + 3 months is 30 April, not 28 April.
"""

from __future__ import annotations

import calendar
import datetime as dt

MAX_EXTENSION_MONTHS = 2
DUE_SOON = dt.timedelta(days=7)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """`moment` moved `months` calendar months on, day clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(received_at: dt.datetime, extended_months: int = 0) -> dt.datetime:
    return add_months(received_at, 1 + extended_months)


class ExtensionRefused(ValueError):
    """Why an extension cannot be granted (the message says it)."""


def extend(received_at: dt.datetime, extended_months: int, months: int,
           now: dt.datetime) -> int:
    """The request's total extension after adding `months`; refuses once the
    first month is over or past two months in all."""
    if months < 1:
        raise ExtensionRefused("an extension is 1 or 2 months")
    if now >= due_at(received_at):
        raise ExtensionRefused("an extension must be decided within the first month after receipt")
    total = extended_months + months
    if total > MAX_EXTENSION_MONTHS:
        raise ExtensionRefused(
            f"at most {MAX_EXTENSION_MONTHS} further months in all"
            f" ({extended_months} already granted)"
        )
    return total


def is_overdue(due: dt.datetime, now: dt.datetime) -> bool:
    return now > due


def is_due_soon(due: dt.datetime, now: dt.datetime) -> bool:
    return now <= due <= now + DUE_SOON
