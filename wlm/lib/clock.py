"""The one time source. Every "now" in the project comes from here.

Tests move time with time-machine, which patches the standard library clocks this
module reads, so nothing else needs to know about tests.
"""

import datetime as dt
import zoneinfo

from django.utils import timezone


def now() -> dt.datetime:
    """The current moment, timezone-aware (UTC)."""
    return timezone.now()


def today_in(tz_name: str) -> dt.date:
    """The local calendar date right now in the IANA time zone ``tz_name``."""
    return now().astimezone(zoneinfo.ZoneInfo(tz_name)).date()
