"""May this location be served, with which modules? (DESIGN §4, the data plane's question)

``decide`` is the rule, a pure function of a license's status and end date and the
moment of the question: it never trusts a stored status that time has overtaken, so a
late or stopped worker never extends service. ``facts_of`` reads what the rule needs (the
location's license as stored by wlm.licenses.current, its status and dates as they are)
in one or two queries; ``Facts.at(now)`` applies the rule. The Django view and the data plane's
lean path (wlm.dataplane, which keeps the facts per process) give the same answer.
``entitlement_seen_by`` is what a tenant reads: only a license it sees.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.db.models import OuterRef

from wlm.lib.prepared import PreparedQuery
from wlm.licenses.dates import has_ended
from wlm.licenses.limits import in_use
from wlm.licenses.models import License, LicenseStatus, LicenseType
from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy.scoping import actor_of

S = LicenseStatus
NO_LICENSE = "no_license"
OK = "ok"
EXPIRED = "expired"


def decide(status: str | None, end_date: dt.date | None, tz_name: str, now: dt.datetime) -> str:
    """The machine-readable reason; service is available only when it is ``ok``."""
    if status is None:
        return NO_LICENSE
    if status in (S.PENDING_START, S.IN_USE):
        return EXPIRED if has_ended(end_date, tz_name, now) else OK
    return str(status)  # pending_provision, access_denied, contract_finalized


@dataclass(frozen=True)
class Entitlement:
    location: str
    reason: str
    license: str | None = None
    status: str | None = None
    modules: list[str] = field(default_factory=list)
    aps: dict = field(default_factory=lambda: {"max": None, "used": 0})
    rooms: dict = field(default_factory=lambda: {"max": None, "used": 0})
    end_date: dt.date | None = None

    @property
    def service(self) -> str:
        return "available" if self.reason == OK else "unavailable"


@dataclass(frozen=True)
class Facts:
    """What the entitlement of a location depends on, apart from the moment: its chosen
    license (or none) as stored. ``at(now)`` is the answer at that moment."""

    location: str
    status: str | None = None  # of the chosen license; PENDING_PROVISION without one
    license: str | None = None
    end_date: dt.date | None = None
    timezone: str = "UTC"
    modules: tuple[str, ...] = ()
    aps: tuple[int | None, int] = (None, 0)  # (max, used)
    rooms: tuple[int | None, int] = (None, 0)
    license_id: int | None = None  # the row of the license the facts are about (masking)

    def reason_at(self, now: dt.datetime) -> str:
        if self.license is None:  # nothing assigned: pending provision, or no license
            return self.status or NO_LICENSE
        return decide(self.status, self.end_date, self.timezone, now)

    def at(self, now: dt.datetime) -> Entitlement:
        if self.license is None:
            return Entitlement(self.location, self.reason_at(now))
        return Entitlement(
            location=self.location,
            reason=self.reason_at(now),
            license=self.license,
            status=self.status,
            modules=list(self.modules),
            aps={"max": self.aps[0], "used": self.aps[1]},
            rooms={"max": self.rooms[0], "used": self.rooms[1]},
            end_date=self.end_date,
        )


# The reads of ``facts_of``, compiled once (wlm.lib.prepared): building these querysets
# costs fifty times more than running them, and the data plane reads them on every miss.
_LOCATION_MARK = uuid.UUID("00000000-0000-4000-8000-0000000e117e")
_LICENSE_MARK = 2**62 + 117
CHOSEN = "current__license"  # the location's license, stored (wlm.licenses.current)
_FACTS = PreparedQuery(
    lambda location: Location.objects.filter(pk=location).values_list(
        CHOSEN,
        *(
            f"{CHOSEN}__{name}"
            for name in ("key", "status", "end_date", "timezone", "license_type", "limit")
        ),
        in_use(AccessPoint, OuterRef(CHOSEN)),
        in_use(Room, OuterRef(CHOSEN)),
    ),
    Location._meta.pk,
    _LOCATION_MARK,
)
_MODULES = PreparedQuery(
    lambda license: License.modules.through.objects.filter(license=license).values_list(
        "module_id"
    ),
    License._meta.pk,
    _LICENSE_MARK,
)


def facts_of(location_id) -> Facts | None:
    """The facts of the location with this id, or None if there is no such location: its
    license as stored, with that license's status and dates read now; one query, and one
    more for the modules of a license that serves (the data plane's misses)."""
    found = _FACTS.rows(location_id)
    if not found:
        return None
    pk, key, status, end_date, zone, license_type, limit, aps_used, rooms_used = found[0]
    if pk is None:
        return Facts(str(location_id), None)
    if status == S.PENDING_PROVISION:  # generated for the location, no Send Key yet (an
        # assigned license never is: Send Key assigns it and moves it on)
        return Facts(str(location_id), S.PENDING_PROVISION, license_id=pk)
    if isinstance(end_date, str):  # SQLite returns the text
        end_date = dt.date.fromisoformat(end_date)
    rooms_license = license_type == LicenseType.ROOMS
    return Facts(
        location=str(location_id),
        status=status,
        license=key,
        end_date=end_date,
        timezone=zone,
        modules=tuple(sorted(code for (code,) in _MODULES.rows(pk))),
        aps=(None if rooms_license else limit, aps_used),
        rooms=(limit if rooms_license else None, rooms_used),
        license_id=pk,
    )


def entitlement_for(location, now: dt.datetime) -> Entitlement:
    """The entitlement of a location (already read and scoped by the caller) at ``now``."""
    return facts_of(location.pk).at(now)


def entitlement_seen_by(user, location, now: dt.datetime) -> Entitlement:
    """The entitlement of ``location`` (already scoped by the caller) as ``user`` may read
    it. The gateway and staff read every license; a tenant only one it sees
    (``License.objects.visible_to``): another tenant's license answers exactly like no
    license, as the locations list masks it (``License.objects.visible_through``)."""
    facts = facts_of(location.pk)
    actor = actor_of(user)
    reads_all = actor.is_staff or actor.is_gateway
    if facts.license_id is not None and not reads_all:
        shown = License.objects.visible_to(user).filter(pk=facts.license_id).exists()
        facts = facts if shown else Facts(facts.location)
    return facts.at(now)
