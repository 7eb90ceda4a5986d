"""The calendar rules of a license term (DESIGN §4, §5), as pure functions of dates.

No models and no clock here: callers pass "now" (from `wlm.lib.clock`) and the license's
time zone, so every rule can be tested at any instant in any zone.

A license's end date is its cut-off day: service stops at local midnight starting the
end date, in the license's time zone (notice 5 of §5 is sent on the end date itself).
"""

import calendar
import datetime as dt
import zoneinfo

# A license "ends soon" when its end date is at most this many days ahead: the lists'
# shortcut and the dashboard.
ENDING_SOON_DAYS = 30


def add_years(start: dt.date, years: int) -> dt.date:
    """The same month and day ``years`` later; 29 February becomes 28 February in a common year.

    Raises ValueError only when the result falls outside the years 1-9999.
    """
    year = start.year + years
    if start.month == 2 and start.day == 29 and not calendar.isleap(year):
        return start.replace(year=year, day=28)
    return start.replace(year=year)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (or earlier when negative), or the month's last day
    when that day does not exist there (31 March - 1 month = 28 or 29 February).

    Raises ValueError only when the result falls outside the years 1-9999.
    """
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValueError(f"year {year} is out of range")
    month = month0 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    """The calendar date of an aware moment in the IANA zone ``tz_name``.

    A naive datetime is refused: `astimezone` would silently read it as server-local time.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("local_date needs an aware datetime")
    return moment.astimezone(zoneinfo.ZoneInfo(tz_name)).date()


def has_ended(end_date: dt.date | None, tz_name: str, now: dt.datetime) -> bool:
    """Whether the end date has been reached in ``tz_name`` at ``now``.

    The end date is the cut-off day: from local midnight starting it, there is no service.
    A license without an end date (not started yet) has not ended.
    """
    if end_date is None:
        return False
    return local_date(now, tz_name) >= end_date


def ending_soon(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last end date (both included) of a license that ends soon."""
    return today, today + dt.timedelta(days=ENDING_SOON_DAYS)


def renewal_term(
    current_end: dt.date | None, today: dt.date, years: int
) -> tuple[dt.date, dt.date]:
    """(start, end) of a renewal by ``years``.

    Before the old end date the term continues from it, so no paid day is lost; from the
    end date on (service already cut off) or without one, the new term starts today.
    """
    if current_end is not None and today < current_end:
        return current_end, add_years(current_end, years)
    return today, add_years(today, years)
