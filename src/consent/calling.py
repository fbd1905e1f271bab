"""The French calling rules for phone canvassing: Code de la consommation
art. D. 223-9 (décret n° 2022-1313 du 13 octobre 2022, in force since
1 March 2023).

* Only Monday to Friday, never on a public holiday (Code du travail
  L. 3133-1), and only from 10:00 to 13:00 and from 14:00 to 20:00, in the
  consumer's time zone.
* At most four calls or attempted calls by the same professional in thirty
  calendar days.
* After the consumer refuses during the conversation, no call nor attempt
  for sixty calendar days.

Pure functions: the caller gives the local time and the history. (The same
article lets a professional call outside these days and hours with the
consumer's express prior consent to that; Optinbase does not record such a
consent, so it never answers outside them.)
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional

WINDOWS = ((dt.time(10, 0), dt.time(13, 0)), (dt.time(14, 0), dt.time(20, 0)))
MAX_ATTEMPTS = 4
ATTEMPT_PERIOD = dt.timedelta(days=30)
PAUSE_AFTER_REFUSAL = dt.timedelta(days=60)

# Why a call is not allowed at that time (the `reason` of the phone check).
WEEKEND, HOLIDAY, HOURS = "weekend", "public_holiday", "outside_calling_hours"
TOO_MANY, REFUSED = "too_many_attempts", "refused_recently"


def easter(year: int) -> dt.date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def public_holidays(year: int) -> set[dt.date]:
    """Code du travail L. 3133-1: 1 January, Easter Monday, 1 May, 8 May,
    Ascension, Whit Monday, 14 July, 15 August, 1 November, 11 November,
    25 December. (Alsace-Moselle's Good Friday and 26 December are local.)"""
    sunday = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    return {dt.date(year, m, d) for m, d in fixed} | {
        sunday + dt.timedelta(days=1), sunday + dt.timedelta(days=39),
        sunday + dt.timedelta(days=50)}


def time_reason(local: dt.datetime) -> Optional[str]:
    """Why `local` (the consumer's wall-clock time) is not a calling time."""
    if local.date() in public_holidays(local.year):
        return HOLIDAY
    if local.weekday() >= 5:
        return WEEKEND
    now = local.time()
    if not any(start <= now < end for start, end in WINDOWS):
        return HOURS
    return None


def frequency_reason(at: dt.datetime, attempts: Iterable[tuple[dt.datetime, str]]
                     ) -> Optional[str]:
    """Why one more call at `at` would break the frequency rules, given the
    earlier calls `(when, outcome)` (outcome `refused`: the person refused)."""
    earlier = [(when, outcome) for when, outcome in attempts if when <= at]
    if any(outcome == "refused" and at - when < PAUSE_AFTER_REFUSAL for when, outcome in earlier):
        return REFUSED
    if sum(1 for when, _ in earlier if at - when < ATTEMPT_PERIOD) >= MAX_ATTEMPTS:
        return TOO_MANY
    return None
