"""The notice schedule (DESIGN §5) as pure functions of dates: no models, no clock.

Six notices per license and end date, each due at local midnight starting its day in the
license's time zone — the moment the end date's cut-off happens too (``dates.has_ended``):

1. end date - 1 month (the month's last day when the day does not exist there);
2. end date - 15 days;  3. - 7 days;  4. - 1 day;
5. the end date: end of contract, with the cut-off;
6. end date + 1 day: reminder of a possible renewal.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from wlm.licenses.dates import add_months

FIRST, SECOND, THIRD, FOURTH, END, RENEWAL = 1, 2, 3, 4, 5, 6
NUMBERS = (FIRST, SECOND, THIRD, FOURTH, END, RENEWAL)


def notice_days(end_date: dt.date) -> dict[int, dt.date]:
    """The local day of each notice of the cycle that ends on ``end_date``."""
    day = dt.timedelta(days=1)
    return {
        FIRST: add_months(end_date, -1),
        SECOND: end_date - 15 * day,
        THIRD: end_date - 7 * day,
        FOURTH: end_date - day,
        END: end_date,
        RENEWAL: end_date + day,
    }


def start_of_day(day: dt.date, tz_name: str) -> dt.datetime:
    """Local midnight starting ``day`` in ``tz_name``, as an aware UTC moment.

    Where midnight does not exist (a DST gap at 00:00, e.g. America/Santiago), the
    wall time is read with the offset before the gap, which is the gap's first moment:
    the first moment whose local date is ``day``, as ``dates.has_ended`` sees it.
    """
    return dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(tz_name)).astimezone(dt.UTC)
