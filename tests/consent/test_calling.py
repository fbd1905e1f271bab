"""The French calling rules (Code de la consommation D. 223-9, décret
n° 2022-1313): weekdays 10:00–13:00 and 14:00–20:00 in the consumer's zone,
no public holiday (Code du travail L. 3133-1), at most four calls in thirty
days, sixty days' pause after a refusal."""

from __future__ import annotations

import datetime as dt

from consent import calling


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}+01:00")


def test_easter_and_the_holidays_it_moves():
    assert calling.easter(2026) == dt.date(2026, 4, 5)
    assert calling.easter(2027) == dt.date(2027, 3, 28)
    holidays = calling.public_holidays(2027)
    for day in ("2027-01-01", "2027-03-29", "2027-05-01", "2027-05-08", "2027-05-06",
                "2027-05-17", "2027-07-14", "2027-08-15", "2027-11-01", "2027-11-11",
                "2027-12-25"):
        assert dt.date.fromisoformat(day) in holidays, day
    assert len(holidays) == 11


def test_hours_and_days():
    monday = "2026-12-07"
    assert calling.time_reason(at(monday, "09:59")) == calling.HOURS
    assert calling.time_reason(at(monday, "10:00")) is None
    assert calling.time_reason(at(monday, "12:59")) is None
    assert calling.time_reason(at(monday, "13:00")) == calling.HOURS  # lunch break
    assert calling.time_reason(at(monday, "14:00")) is None
    assert calling.time_reason(at(monday, "19:59")) is None
    assert calling.time_reason(at(monday, "20:00")) == calling.HOURS
    assert calling.time_reason(at("2026-12-05", "11:00")) == calling.WEEKEND  # Saturday
    assert calling.time_reason(at("2026-12-06", "11:00")) == calling.WEEKEND  # Sunday
    assert calling.time_reason(at("2026-12-25", "11:00")) == calling.HOLIDAY  # a Friday
    assert calling.time_reason(at("2027-05-17", "11:00")) == calling.HOLIDAY  # Whit Monday


def test_four_calls_in_thirty_days_and_the_pause_after_a_refusal():
    start = at("2026-12-01", "11:00")
    calls = [(start + dt.timedelta(days=d), "no_answer") for d in (0, 1, 2, 3)]
    assert calling.frequency_reason(start + dt.timedelta(days=4), calls[:3]) is None
    assert calling.frequency_reason(start + dt.timedelta(days=4), calls) == calling.TOO_MANY
    assert calling.frequency_reason(start + dt.timedelta(days=30), calls) is None  # first aged out
    refused = [(start, "refused")]
    assert calling.frequency_reason(start + dt.timedelta(days=59), refused) == calling.REFUSED
    assert calling.frequency_reason(start + dt.timedelta(days=60), refused) is None
    # Calls after the moment asked about do not count.
    assert calling.frequency_reason(start - dt.timedelta(days=1), refused + calls) is None
