"""RADIUS through FreeRADIUS: what our service answers its ``rest`` module (docs/radius.md).

An access point (the NAS, or the controller for it) asks FreeRADIUS whether a guest may
connect; FreeRADIUS asks us with the AP's ``Called-Station-Id``. The AP names its location
(the access points we store; a MAC is registered at one location platform-wide), and the
location's entitlement decides with the same facts and the same rule as
``GET /locations/{id}/entitlement/`` (``Facts.at``): an Accept whose ``Session-Timeout``
ends no later than the license's cut-off and whose ``Class`` lists the enabled modules, or a
Reject whose ``Reply-Message`` is the machine-readable reason.

The answers are plain dicts in rlm_rest's reply format (``"reply:Attr"``,
``"control:Attr"``); rlm_rest reads a 200 as "updated" and a 401 as "reject", and puts the
reply attributes of both into the packet it sends.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from wlm.lib.validators import normalize_mac
from wlm.licenses.entitlement import EXPIRED, NO_LICENSE, OK, Facts, facts_of
from wlm.licenses.models import LicenseStatus
from wlm.locations.models import AccessPoint
from wlm.operations.metrics import RADIUS_AUTHORIZE

UNKNOWN_ACCESS_POINT = "unknown_access_point"
# the entitlement's reasons for no service
REASONS = [
    NO_LICENSE,
    LicenseStatus.PENDING_PROVISION.value,
    EXPIRED,
    LicenseStatus.ACCESS_DENIED.value,
    LicenseStatus.CONTRACT_FINALIZED.value,
]
MAX_ATTRIBUTE = 253  # octets of a RADIUS attribute's value

# Called-Station-Id: the AP's MAC in any usual spelling, then ":SSID" or nothing
# (RFC 3580 3.20: "AA-BB-CC-DD-EE-FF:SSID"; vendors also send colons, dots or bare hex).
_STATION = re.compile(
    r"(?P<mac>[0-9a-f]{2}(?P<sep>[-:]?)[0-9a-f]{2}(?:(?P=sep)[0-9a-f]{2}){4}"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})"
    r"(?::(?P<ssid>.*))?",
    re.IGNORECASE | re.DOTALL,
)


def station_mac(called_station_id: str) -> str | None:
    """The MAC of ``Called-Station-Id`` as ``AA:BB:CC:DD:EE:FF`` (how access points are
    stored), or None when it does not start with one."""
    match = _STATION.fullmatch(called_station_id.strip())
    if match is None:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", match.group("mac"))
    return bytes.fromhex(digits).hex(":").upper()


def access_point_mac(called_station_id: str, nas_identifier: str) -> str | None:
    """The access point's MAC: from ``Called-Station-Id``; when that holds none, from a
    ``NAS-Identifier`` that is exactly a MAC (controllers that name the AP there)."""
    mac = station_mac(called_station_id)
    if mac is None:
        try:
            mac = normalize_mac(nas_identifier)
        except ValidationError:
            return None
    return mac


@dataclass(frozen=True)
class Question:
    """An Access-Request as rlm_rest sends it (the attributes we read; "" when absent)."""

    called_station_id: str = ""
    calling_station_id: str = ""
    nas_identifier: str = ""

    @classmethod
    def from_json(cls, data) -> Question:
        """From the body; ValueError naming the field when it is not an object of strings
        of at most 253 characters."""
        if not isinstance(data, dict):
            raise ValueError("body")
        values = {}
        for name in ("called_station_id", "calling_station_id", "nas_identifier"):
            value = data.get(name, "")
            if not isinstance(value, str) or len(value) > MAX_ATTRIBUTE:
                raise ValueError(name)
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Accounting:
    """An Accounting-Request as rlm_rest sends it ("" when absent)."""

    status_type: str = ""
    called_station_id: str = ""
    calling_station_id: str = ""
    nas_identifier: str = ""
    acct_session_id: str = ""
    event_timestamp: int | None = None  # seconds since the epoch

    @classmethod
    def from_json(cls, data) -> Accounting:
        """From the body; ValueError naming the field when it is not an object of strings
        of at most 253 characters, ``event_timestamp`` a whole number of seconds (or "")."""
        if not isinstance(data, dict):
            raise ValueError("body")
        values = {}
        for name in (
            "status_type",
            "called_station_id",
            "calling_station_id",
            "nas_identifier",
            "acct_session_id",
        ):
            value = data.get(name, "")
            if not isinstance(value, str) or len(value) > MAX_ATTRIBUTE:
                raise ValueError(name)
            values[name] = value
        stamp = data.get("event_timestamp", "")
        if isinstance(stamp, str) and stamp.strip().isdigit():
            stamp = int(stamp)
        if stamp == "":
            stamp = None
        elif isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 < stamp < 2**32:
            raise ValueError("event_timestamp")
        return cls(**values, event_timestamp=stamp)


def cut_off(end_date: dt.date, tz_name: str) -> dt.datetime:
    """The moment service ends: the local midnight that starts the end date."""
    return dt.datetime.combine(end_date, dt.time(), tzinfo=zoneinfo.ZoneInfo(tz_name))


def answer(facts: Facts | None, now: dt.datetime) -> tuple[bool, dict]:
    """(accepted, the reply attributes) for the location's facts at ``now``; no facts: the
    access point is not registered."""
    reason = UNKNOWN_ACCESS_POINT if facts is None else facts.reason_at(now)
    if reason != OK:
        return False, {"control:Auth-Type": "Reject", "reply:Reply-Message": reason}
    seconds = settings.RADIUS_SESSION_TIMEOUT
    if facts.end_date is not None:  # pending start: no end yet
        seconds = min(seconds, int((cut_off(facts.end_date, facts.timezone) - now).total_seconds()))
    return True, {
        "control:Auth-Type": "Accept",
        # never past the cut-off: a session that starts a second before it lasts a second
        "reply:Session-Timeout": max(1, seconds),
        "reply:Class": "modules=" + ",".join(facts.modules),
    }


def location_of(mac: str) -> str | None:
    """The id of the location where the access point ``mac`` is registered, or None."""
    # unordered: the model's ordering would join the location and sort (a cache miss)
    rows = AccessPoint.objects.filter(mac=mac).order_by().values_list("location_id", flat=True)
    found = next(iter(rows[:1]), None)
    return None if found is None else str(found)


def authorize(
    question: Question,
    now: dt.datetime,
    *,
    location_of: Callable[[str], str | None] = location_of,
    facts_of: Callable = facts_of,
) -> tuple[bool, dict]:
    """The answer to an Access-Request: the access point's location's facts at ``now``.
    The Django view reads the database; the lean path passes its cache's lookups. Counted
    by result and reason (``wlm_radius_authorize_total``), whichever path answers."""
    mac = access_point_mac(question.called_station_id, question.nas_identifier)
    location = None if mac is None else location_of(mac)
    accepted, reply = answer(None if location is None else facts_of(location), now)
    reason = reply.get("reply:Reply-Message", OK)
    counter = _ANSWERS.get(reason)
    if counter is None:  # a reason added to the entitlement later
        counter = RADIUS_AUTHORIZE.labels("reject", reason)
    counter.inc()
    return accepted, reply


# pre-bound: one counter per answer (accept is the reason "ok")
_ANSWERS = {
    reason: RADIUS_AUTHORIZE.labels("accept" if reason == OK else "reject", reason)
    for reason in (OK, UNKNOWN_ACCESS_POINT, *REASONS)
}
