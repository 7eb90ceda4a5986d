"""Validators and normalisers of plain values (time zones, MAC addresses, names and
addresses)."""

import re
import unicodedata
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


# What breaks a line or controls a terminal: C0/C1 controls (tab, CR, LF, ESC, NEL…) and
# the Unicode line and paragraph separators.
_NOT_PRINTED = frozenset({"Cc", "Zl", "Zp"})
ADDRESS_MAX_LINES = 5


def _printable(value: str) -> bool:
    return not any(unicodedata.category(char) in _NOT_PRINTED for char in value)


def validate_one_line(value: str) -> None:
    """A name: one line of printable text, so it shows the same in a list, a page, a
    CSV cell and the certificate (a name of ninety lines broke the PDF)."""
    if not _printable(value):
        raise ValidationError(
            _("Use one line of text, without line breaks, tabs or control characters."),
            code="not_one_line",
        )


def validate_address(value: str) -> None:
    """A postal address: at most ``ADDRESS_MAX_LINES`` lines (LF or CRLF, as a browser
    sends a text area), each one of printable text."""
    lines = value.replace("\r\n", "\n").split("\n")
    if len(lines) > ADDRESS_MAX_LINES:
        raise ValidationError(
            _("Use at most %(max)d lines."),
            code="too_many_lines",
            params={"max": ADDRESS_MAX_LINES},
        )
    if not all(_printable(line) for line in lines):
        raise ValidationError(
            _("Use lines of text, without tabs or control characters."), code="not_printable"
        )
