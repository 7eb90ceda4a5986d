"""The calendar rules of a license term: years, months, local dates, cut-off, renewal."""

import calendar
import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wlm.licenses.dates import (
    add_months,
    add_years,
    has_ended,
    local_date,
    renewal_term,
)

UTC = dt.UTC
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2400, 12, 31))
term_years = st.integers(min_value=1, max_value=5)


def is_leap_day(day: dt.date) -> bool:
    return (day.month, day.day) == (2, 29)


# add_years


@given(dates, term_years)
def test_add_years_keeps_month_and_day_except_leap_day(start, years):
    end = add_years(start, years)
    assert end.year == start.year + years
    assert end > start
    if is_leap_day(start) and not calendar.isleap(end.year):
        assert (end.month, end.day) == (2, 28)
    else:
        assert (end.month, end.day) == (start.month, start.day)


@given(dates, term_years, term_years)
def test_add_years_composes_except_through_a_lost_leap_day(start, a, b):
    once = add_years(start, a + b)
    twice = add_years(add_years(start, a), b)
    lost_leap_day = (
        is_leap_day(start)
        and not calendar.isleap(start.year + a)
        and calendar.isleap(start.year + a + b)
    )
    if lost_leap_day:
        # 29 Feb -> 28 Feb (common year) -> 28 Feb: one day short of 29 Feb.
        assert (once.month, once.day, twice) == (2, 29, once - dt.timedelta(days=1))
    else:
        assert twice == once


@pytest.mark.parametrize(
    ("start", "years", "end"),
    [
        (dt.date(2028, 2, 29), 1, dt.date(2029, 2, 28)),
        (dt.date(2028, 2, 29), 4, dt.date(2032, 2, 29)),
        (dt.date(2027, 2, 28), 1, dt.date(2028, 2, 28)),
        (dt.date(2096, 2, 29), 4, dt.date(2100, 2, 28)),  # 2100 is not a leap year
        (dt.date(2027, 12, 31), 5, dt.date(2032, 12, 31)),
    ],
)
def test_add_years_examples(start, years, end):
    assert add_years(start, years) == end


# add_months


@given(dates, st.integers(min_value=-120, max_value=120))
def test_add_months_lands_in_the_right_month_on_the_same_or_last_day(day, months):
    result = add_months(day, months)
    assert result.year * 12 + result.month == day.year * 12 + day.month + months
    assert result.day <= day.day
    last = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(day.day, last)


@given(dates)
def test_add_months_zero_is_identity(day):
    assert add_months(day, 0) == day


@pytest.mark.parametrize(
    ("day", "months", "result"),
    [
        (dt.date(2027, 3, 31), -1, dt.date(2027, 2, 28)),
        (dt.date(2028, 3, 31), -1, dt.date(2028, 2, 29)),
        (dt.date(2027, 1, 15), -1, dt.date(2026, 12, 15)),
        (dt.date(2027, 1, 31), 1, dt.date(2027, 2, 28)),
        (dt.date(2027, 12, 31), 2, dt.date(2028, 2, 29)),
        (dt.date(2027, 5, 31), -13, dt.date(2026, 4, 30)),
    ],
)
def test_add_months_examples(day, months, result):
    assert add_months(day, months) == result


def test_add_months_outside_the_calendar_is_a_value_error():
    with pytest.raises(ValueError):
        add_months(dt.date(9999, 12, 1), 1)
    with pytest.raises(ValueError):
        add_months(dt.date(1, 1, 1), -1)


# local_date and has_ended


def test_local_date_is_the_calendar_date_in_the_zone():
    moment = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)
    assert local_date(moment, "Pacific/Auckland") == dt.date(2027, 7, 1)
    assert local_date(moment, "America/Los_Angeles") == dt.date(2027, 6, 30)
    assert local_date(moment, "UTC") == dt.date(2027, 6, 30)


def test_local_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        local_date(dt.datetime(2027, 6, 30, 13, 0), "Europe/Madrid")


@pytest.mark.parametrize(
    ("tz_name", "local_midnight_utc"),
    [
        # End date 2027-07-01: the cut-off is local midnight starting that day.
        ("Pacific/Auckland", dt.datetime(2027, 6, 30, 12, 0, tzinfo=UTC)),  # NZST, +12
        ("America/Los_Angeles", dt.datetime(2027, 7, 1, 7, 0, tzinfo=UTC)),  # PDT, -7
    ],
)
def test_has_ended_from_local_midnight_of_the_end_date(tz_name, local_midnight_utc):
    end = dt.date(2027, 7, 1)
    tick = dt.timedelta(microseconds=1)
    assert not has_ended(end, tz_name, local_midnight_utc - tick)
    assert has_ended(end, tz_name, local_midnight_utc)
    assert has_ended(end, tz_name, local_midnight_utc + dt.timedelta(days=400))


def test_the_same_instant_has_ended_in_one_zone_and_not_in_another():
    end = dt.date(2027, 7, 1)
    now = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)
    assert has_ended(end, "Pacific/Auckland", now)
    assert not has_ended(end, "America/Los_Angeles", now)


def test_has_ended_without_an_end_date_is_false():
    assert not has_ended(None, "UTC", dt.datetime(2400, 1, 1, tzinfo=UTC))


zones = st.sampled_from(
    ["UTC", "Pacific/Auckland", "Pacific/Kiritimati", "America/Santiago", "Asia/Kolkata"]
)


@given(
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2400, 1, 1)),
    zones,
)
def test_has_ended_exactly_from_the_local_date(naive_utc, tz_name):
    now = naive_utc.replace(tzinfo=UTC)
    today = now.astimezone(zoneinfo.ZoneInfo(tz_name)).date()
    assert has_ended(today, tz_name, now)
    assert not has_ended(today + dt.timedelta(days=1), tz_name, now)


# renewal_term


def test_renewal_before_the_end_continues_from_the_old_end_date():
    assert renewal_term(dt.date(2027, 7, 1), dt.date(2027, 6, 30), 2) == (
        dt.date(2027, 7, 1),
        dt.date(2029, 7, 1),
    )


def test_renewal_on_the_end_date_starts_today():
    assert renewal_term(dt.date(2027, 7, 1), dt.date(2027, 7, 1), 1) == (
        dt.date(2027, 7, 1),
        dt.date(2028, 7, 1),
    )


def test_renewal_after_the_end_starts_today():
    assert renewal_term(dt.date(2027, 7, 1), dt.date(2027, 9, 15), 3) == (
        dt.date(2027, 9, 15),
        dt.date(2030, 9, 15),
    )


def test_renewal_without_an_end_date_starts_today():
    assert renewal_term(None, dt.date(2028, 2, 29), 1) == (
        dt.date(2028, 2, 29),
        dt.date(2029, 2, 28),
    )


@given(dates, dates, term_years)
def test_renewal_never_shortens_and_never_starts_in_the_past(current_end, today, years):
    start, end = renewal_term(current_end, today, years)
    assert start == max(current_end, today)
    assert end == add_years(start, years)
    assert end > start >= today
