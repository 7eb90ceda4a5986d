"""Validators and normalisers of plain values (time zones, MAC addresses)."""

import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# aabbccddeeff, aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff (one separator throughout), aabb.ccdd.eeff
_MAC_NOTATION = re.compile(
    r"[0-9a-f]{12}|[0-9a-f]{2}(?P<sep>[:-])[0-9a-f]{2}(?:(?P=sep)[0-9a-f]{2}){4}"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"
)


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name known to this system's tz database, e.g. ``Europe/Madrid``."""
    if value not in _time_zones():
        raise ValidationError(
            _("%(value)s is not an IANA time zone (e.g. Europe/Madrid)."),
            code="invalid_time_zone",
            params={"value": value},
        )


def normalize_mac(value: str) -> str:
    """``AA:BB:CC:DD:EE:FF`` from the usual notations (colons, hyphens, dots, none).

    Raises ValidationError for anything that is not 48 bits of hexadecimal.
    """
    raw = str(value).strip().lower()
    if not _MAC_NOTATION.fullmatch(raw):
        raise ValidationError(
            _("Enter a MAC address such as AA:BB:CC:DD:EE:FF."), code="invalid_mac"
        )
    return bytes.fromhex(raw.replace(":", "").replace("-", "").replace(".", "")).hex(":").upper()
