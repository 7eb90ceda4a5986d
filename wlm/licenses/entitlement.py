"""May this location be served, with which modules? (DESIGN §4, the data plane's question)

``decide`` is the rule, a pure function of a license's status and end date and the
moment of the question: it never trusts a stored status that time has overtaken, so a
late or stopped worker never extends service. ``entitlement_for`` reads what the rule
needs in three queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from wlm.licenses.dates import has_ended
from wlm.licenses.models import License, LicenseStatus, LicenseType
from wlm.licenses.queries import assigned_first
from wlm.locations.models import AccessPoint, Room

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


def _used(model):
    """Elements of ``model`` over all the locations of the outer license."""
    rows = (
        model.objects.filter(location__assignments__license=OuterRef("pk"))
        .order_by()
        .values("location__assignments__license")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def entitlement_for(location, now: dt.datetime) -> Entitlement:
    """The entitlement of a location (already read and scoped by the caller)."""
    assigned = (
        assigned_first(location)
        .annotate(aps_used=_used(AccessPoint), rooms_used=_used(Room))
        .first()
    )
    if assigned is None:
        pending = License.objects.filter(location=location, status=S.PENDING_PROVISION)
        if pending.exists():
            return Entitlement(str(location.pk), S.PENDING_PROVISION)
        return Entitlement(str(location.pk), NO_LICENSE)
    rooms_license = assigned.license_type == LicenseType.ROOMS
    return Entitlement(
        location=str(location.pk),
        reason=decide(assigned.status, assigned.end_date, assigned.timezone, now),
        license=assigned.key,
        status=assigned.status,
        modules=sorted(assigned.modules.values_list("code", flat=True)),
        aps={"max": None if rooms_license else assigned.limit, "used": assigned.aps_used},
        rooms={"max": assigned.limit if rooms_license else None, "used": assigned.rooms_used},
        end_date=assigned.end_date,
    )
