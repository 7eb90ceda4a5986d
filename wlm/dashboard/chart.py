"""The dashboard's chart of licenses ending per month, by status: the months, the links,
the geometry of a stacked bar chart and its SVG (``svg``), placed in
``templates/dashboard.html`` beside a table of the same figures.

The view counts, this module places and draws: no queries. The SVG has no ``viewBox``: it
is as wide as its column (``width: 100%`` in app.css), the columns' x positions and widths
are percentages and the heights pixels, so its text keeps its size on a phone and on a
desktop. Its colours are classes of app.css (the Content-Security-Policy refuses style
attributes). Every figure is written here as a string with a dot, never by the template's
number localization (Spanish would write ``8,333%``); every text is escaped by
``format_html``; month names come from Django's formats in the active language.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from wlm.licenses.dates import add_months

MONTHS = 12
# pixels, from the top of the SVG
PLOT_TOP = 26
PLOT_HEIGHT = 180
PLOT_BOTTOM = PLOT_TOP + PLOT_HEIGHT
HEIGHT = PLOT_BOTTOM + 44  # month names and years under the bars
BAR_SHARE = 0.6  # of a month's column


@dataclass(frozen=True)
class Month:
    """A calendar month of the chart, from ``first`` to ``last`` (both included); the
    current month starts today (an end date already past is not "ending")."""

    start: dt.date  # the first day of the month, for its name
    first: dt.date
    last: dt.date


def months(today: dt.date, count: int = MONTHS) -> list[Month]:
    """The current month (from today) and the ``count - 1`` months after it."""
    first_of_month = today.replace(day=1)
    result = []
    for offset in range(count):
        start = add_months(first_of_month, offset)
        last = add_months(start, 1) - dt.timedelta(days=1)
        result.append(Month(start=start, first=max(start, today), last=last))
    return result


def list_url(base: str, month: Month, status: str | None = None) -> str:
    """The licenses list filtered to the licenses ending in ``month`` (and ``status``)."""
    query = {"end_after": month.first.isoformat(), "end_before": month.last.isoformat()}
    if status:
        query = {"status": status, **query}
    return f"{base}?{urlencode(query)}"


def _percent(value: float) -> str:
    return f"{value:.3f}%"


@dataclass
class Segment:
    status: str
    label: str
    count: int
    url: str
    y: str = ""
    height: str = ""


@dataclass
class Column:
    month: Month
    total: int
    url: str
    segments: list[Segment] = field(default_factory=list)  # bottom to top, non-empty only
    cells: list[Segment] = field(default_factory=list)  # every status shown: the table
    x: str = ""  # the bar's left edge
    width: str = ""
    center: str = ""  # of the column: the month's name
    show_year: bool = False
    total_y: str = ""
    name: str = ""  # "July 2026", "julio de 2026"
    short: str = ""  # "Jul"


@dataclass
class Gridline:
    value: int
    y: str


@dataclass
class Chart:
    columns: list[Column]
    statuses: list[tuple[str, str]]  # (status, label) with licenses in the window
    total: int
    gridlines: list[Gridline]
    height: str = str(HEIGHT)
    plot_bottom: str = str(PLOT_BOTTOM)
    month_y: str = str(PLOT_BOTTOM + 18)
    year_y: str = str(PLOT_BOTTOM + 36)

    @property
    def first(self) -> Month:
        return self.columns[0].month

    @property
    def last(self) -> Month:
        return self.columns[-1].month

    @property
    def busiest(self) -> Column | None:
        """The month with the most licenses ending (the first of equals), for the text."""
        return max(self.columns, key=lambda column: column.total) if self.total else None


def nice_ceiling(value: int) -> int:
    """The chart's scale: the smallest of 1, 2 or 5 times a power of ten at least
    ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def build(
    counts: dict[tuple[dt.date, str], int],
    today: dt.date,
    statuses: list[tuple[str, str]],
    list_base: str,
) -> Chart:
    """The chart of ``counts`` ({(month's first day, status): licenses}) over the months
    from ``today``; ``statuses``: every status and its label, in the order stacked."""
    window = months(today)
    totals = {
        month.start: sum(counts.get((month.start, status), 0) for status, _l in statuses)
        for month in window
    }
    scale = nice_ceiling(max(totals.values(), default=0))
    width = 100 / len(window)
    columns = []
    for index, month in enumerate(window):
        column = Column(
            month=month,
            total=totals[month.start],
            url=list_url(list_base, month),
            x=_percent(width * (index + (1 - BAR_SHARE) / 2)),
            width=_percent(width * BAR_SHARE),
            center=_percent(width * (index + 0.5)),
            show_year=index == 0 or month.start.month == 1,
            name=date_format(month.start, "YEAR_MONTH_FORMAT"),
            short=date_format(month.start, "M"),
        )
        stacked, top = 0, PLOT_BOTTOM
        for status, label in statuses:
            count = counts.get((month.start, status), 0)
            if not count:
                continue
            stacked += count
            # cumulative rounding keeps the stack's total exact; one pixel at least
            new_top = min(PLOT_BOTTOM - round(stacked / scale * PLOT_HEIGHT), top - 1)
            column.segments.append(
                Segment(
                    status=status,
                    label=label,
                    count=count,
                    url=list_url(list_base, month, status),
                    y=str(new_top),
                    height=str(top - new_top),
                )
            )
            top = new_top
        column.total_y = str(top - 4)
        columns.append(column)
    shown = [
        (status, label)
        for status, label in statuses
        if any(counts.get((month.start, status), 0) for month in window)
    ]
    for column in columns:
        month = column.month
        column.cells = [
            Segment(
                status=status,
                label=label,
                count=counts.get((month.start, status), 0),
                url=list_url(list_base, month, status),
            )
            for status, label in shown
        ]
    gridlines = [
        Gridline(value=value, y=str(PLOT_BOTTOM - round(value / scale * PLOT_HEIGHT)))
        for value in (scale // 2, scale)
        if value and (value != scale // 2 or scale % 2 == 0)
    ]
    return Chart(columns=columns, statuses=shown, total=sum(totals.values()), gridlines=gridlines)


TITLE_ID = "ending-chart-svg-title"
DESC_ID = "ending-chart-svg-desc"


def _text(drawn: Chart) -> tuple[str, str]:
    """The SVG's title and description (its text alternative, with the table)."""
    title = gettext("Licenses ending per month, %(first)s to %(last)s, by status") % {
        "first": drawn.columns[0].name,
        "last": drawn.columns[-1].name,
    }
    parts = [
        ngettext(
            "%(total)d license ends in these 12 months.",
            "%(total)d licenses end in these 12 months.",
            drawn.total,
        )
        % {"total": drawn.total}
    ]
    busiest = drawn.busiest
    if busiest is not None:
        parts.append(
            gettext("The most end in %(month)s (%(count)d).")
            % {"month": busiest.name, "count": busiest.total}
        )
    parts.append(gettext("The table after the chart holds every figure."))
    return title, " ".join(parts)


def _column(drawn: Chart, column: Column) -> SafeString:
    bars = format_html_join(
        "",
        '<a href="{}" aria-label="{}" data-status="{}" data-count="{}"><title>{}</title>'
        '<rect class="bar-{}" x="{}" y="{}" width="{}" height="{}"/></a>',
        (
            (s.url, name, s.status, s.count, name, s.status, column.x, s.y, column.width, s.height)
            for s in column.segments
            for name in [f"{column.name} · {s.label}: {s.count}"]
        ),
    )
    total = (
        format_html(
            '<text class="chart-total" x="{}" y="{}" text-anchor="middle">{}</text>',
            column.center,
            column.total_y,
            column.total,
        )
        if column.total
        else ""
    )
    year = (
        format_html(
            '<text class="chart-year" x="{}" y="{}" text-anchor="middle">{}</text>',
            column.center,
            drawn.year_y,
            column.month.start.year,
        )
        if column.show_year
        else ""
    )
    return format_html(
        '<g class="chart-month" data-month="{}" data-total="{}">{}{}'
        '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>{}</g>',
        column.month.start.strftime("%Y-%m"),
        column.total,
        bars,
        total,
        column.center,
        drawn.month_y,
        column.short,
        year,
    )


def svg(drawn: Chart) -> SafeString:
    """The chart as an SVG element: a group named by its title and described by its
    description, each bar a link named "month · status: count" to the licenses of its
    month and status. Not ``role="img"``: an image's content is presentational, and
    links inside it would be focusable without a name (axe: nested-interactive)."""
    title, desc = _text(drawn)
    grid = format_html_join(
        "",
        '<line class="chart-grid" x1="0" x2="100%" y1="{}" y2="{}"/>',
        ((line.y, line.y) for line in drawn.gridlines),
    )
    scale = format_html_join(
        "",
        '<text class="chart-scale" x="2" y="{}" dy="-3">{}</text>',
        ((line.y, line.value) for line in drawn.gridlines),
    )
    columns = SafeString("".join(_column(drawn, column) for column in drawn.columns))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="ending-chart" role="group" width="100%"'
        ' height="{}" aria-labelledby="{}" aria-describedby="{}"><title id="{}">{}</title>'
        '<desc id="{}">{}</desc>'
        '<line class="chart-axis" x1="0" x2="100%" y1="{}" y2="{}"/>{}{}{}</svg>',
        drawn.height,
        TITLE_ID,
        DESC_ID,
        TITLE_ID,
        title,
        DESC_ID,
        desc,
        drawn.plot_bottom,
        drawn.plot_bottom,
        grid,
        columns,
        scale,
    )
