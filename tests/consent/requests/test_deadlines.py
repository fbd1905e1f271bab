"""GDPR Art. 12(3) deadline arithmetic, as properties over any receipt time
(month ends and leap years included) and as the worked examples."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.requests import deadlines

UTC = dt.timezone.utc
moments = st.datetimes(min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2100, 12, 31),
                       timezones=st.just(UTC))
month_ends = st.builds(
    lambda y, m, h: dt.datetime(y, m, calendar.monthrange(y, m)[1], h, tzinfo=UTC),
    st.integers(1999, 2100), st.integers(1, 12), st.integers(0, 23))


@pytest.mark.parametrize("received, due", [
    ("2026-01-31", "2026-02-28"),
    ("2024-01-31", "2024-02-29"),  # leap year
    ("2024-01-29", "2024-02-29"),
    ("2023-01-29", "2023-02-28"),
    ("2026-03-31", "2026-04-30"),
    ("2026-12-15", "2027-01-15"),
    ("2026-02-28", "2026-03-28"),  # the same day, not the month's end
])
def test_worked_examples(received, due):
    at = dt.datetime.fromisoformat(received).replace(hour=10, tzinfo=UTC)
    assert deadlines.due_at(at) == dt.datetime.fromisoformat(due).replace(hour=10, tzinfo=UTC)


def test_extension_counts_from_receipt_not_from_the_clamped_date():
    received = dt.datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert deadlines.due_at(received, 2) == dt.datetime(2026, 4, 30, 9, tzinfo=UTC)
    assert deadlines.due_at(received, 1) == dt.datetime(2026, 3, 31, 9, tzinfo=UTC)


@given(moments, st.integers(0, 2))
def test_due_is_that_many_calendar_months_on(received, extra):
    due = deadlines.due_at(received, extra)
    months = (due.year - received.year) * 12 + due.month - received.month
    assert months == 1 + extra
    last_day = calendar.monthrange(due.year, due.month)[1]
    assert due.day == min(received.day, last_day)
    assert due.time() == received.time() and due.tzinfo == received.tzinfo


@given(moments)
def test_one_month_is_28_to_31_days(received):
    assert dt.timedelta(days=28) <= deadlines.due_at(received) - received <= dt.timedelta(days=31)


@given(moments, moments)
def test_a_later_receipt_is_never_due_earlier(a, b):
    first, second = sorted((a, b))
    assert deadlines.due_at(first) <= deadlines.due_at(second)


@given(month_ends)
def test_a_month_end_lands_on_or_before_the_next_months_end(received):
    due = deadlines.due_at(received)
    last_day = calendar.monthrange(due.year, due.month)[1]
    assert due.day <= last_day and (due.day == last_day or received.day < last_day)


@given(moments, st.integers(1, 2), st.integers(0, 2), st.integers(0, 40))
def test_extension_only_within_the_first_month_and_two_months_at_most(
        received, months, already, days_later):
    now = received + dt.timedelta(days=days_later)
    allowed = now < deadlines.due_at(received) and already + months <= 2
    if allowed:
        total = deadlines.extend(received, already, months, now)
        assert total == already + months
        assert deadlines.due_at(received, total) > deadlines.due_at(received)
    else:
        with pytest.raises(deadlines.ExtensionRefused):
            deadlines.extend(received, already, months, now)


def test_overdue_and_due_soon():
    due = dt.datetime(2026, 3, 1, tzinfo=UTC)
    assert deadlines.is_overdue(due, due + dt.timedelta(seconds=1))
    assert not deadlines.is_overdue(due, due)
    assert deadlines.is_due_soon(due, due - dt.timedelta(days=6))
    assert not deadlines.is_due_soon(due, due - dt.timedelta(days=8))
