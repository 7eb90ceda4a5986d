"""The chart's months, links and geometry (``wlm.dashboard.chart``: no database)."""

import datetime as dt

import pytest

from wlm.dashboard import chart

STATUSES = [("in_use", "In Use"), ("access_denied", "Access denied")]


def test_twelve_months_from_today_across_the_year_and_february():
    months = chart.months(dt.date(2027, 3, 31))
    assert len(months) == 12
    assert months[0] == chart.Month(dt.date(2027, 3, 1), dt.date(2027, 3, 31), dt.date(2027, 3, 31))
    assert months[9] == chart.Month(
        dt.date(2027, 12, 1), dt.date(2027, 12, 1), dt.date(2027, 12, 31)
    )
    assert months[10].last == dt.date(2028, 1, 31)
    assert months[11] == chart.Month(dt.date(2028, 2, 1), dt.date(2028, 2, 1), dt.date(2028, 2, 29))
    # every day from today to the last month's end is in exactly one month
    days = sum((month.last - month.first).days + 1 for month in months)
    assert days == (months[-1].last - dt.date(2027, 3, 31)).days + 1


@pytest.mark.parametrize(
    ("value", "scale"), [(0, 1), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (4999, 5000)]
)
def test_the_scale_is_one_two_or_five_times_a_power_of_ten(value, scale):
    assert chart.nice_ceiling(value) == scale


def test_bars_stack_exactly_and_a_small_count_stays_visible():
    today = dt.date(2026, 6, 20)
    counts = {
        (dt.date(2026, 6, 1), "in_use"): 1000,
        (dt.date(2026, 6, 1), "access_denied"): 1,
        (dt.date(2026, 8, 1), "in_use"): 499,
    }
    drawn = chart.build(counts, today, STATUSES, "/licenses/")
    june, july, august = drawn.columns[:3]
    assert drawn.total == 1500 and drawn.statuses == STATUSES
    assert [segment.status for segment in june.segments] == ["in_use", "access_denied"]
    heights = [int(segment.height) for segment in june.segments]
    assert heights[1] == 1  # 1 of a 2,000 scale: one pixel, not none
    # the stack's top is the column's total on the scale (1001 / 2000 of the plot), here
    # one pixel higher: the pixel given to the denied license
    exact = chart.PLOT_BOTTOM - round(1001 / 2000 * chart.PLOT_HEIGHT)
    assert int(june.segments[0].y) == exact
    assert int(june.segments[-1].y) == exact - 1
    assert sum(heights) == chart.PLOT_BOTTOM - int(june.segments[-1].y)
    assert july.segments == [] and july.total == 0
    assert [cell.count for cell in july.cells] == [0, 0]
    assert august.segments[0].url == (
        "/licenses/?status=in_use&end_after=2026-08-01&end_before=2026-08-31"
    )
    assert june.url == "/licenses/?end_after=2026-06-20&end_before=2026-06-30"
    # positions are percentages written with a dot, whatever the language
    assert june.x == "1.667%" and june.width == "5.000%" and june.center == "4.167%"
    assert drawn.busiest is june
    assert [column.show_year for column in drawn.columns] == [True] + [False] * 6 + [True] + [
        False
    ] * 4
    assert [line.value for line in drawn.gridlines] == [1000, 2000]


def test_statuses_without_licenses_are_left_out():
    counts = {(dt.date(2026, 7, 1), "access_denied"): 3}
    drawn = chart.build(counts, dt.date(2026, 6, 20), STATUSES, "/licenses/")
    assert drawn.statuses == [("access_denied", "Access denied")]
    assert drawn.gridlines[-1].value == 5
