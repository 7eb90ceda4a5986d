"""What a license's limit counts: access points, or rooms for a rooms license,
over all the locations it is assigned to (DESIGN §4, Limits).

The rule: a license never holds more elements than it allows. Adding an element, Send
Key, an assignment and lowering the limit check what would be in use; a renewal and a
restore check what is in use, since a finalized license limits nothing and its
locations may have grown meanwhile. Every refusal is a 409 with the numbers in its body.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Subquery
from django.utils.translation import gettext as _

from wlm.lib.problems import Conflict
from wlm.licenses.models import ACTIVE_STATUSES, Assignment, License, LicenseType
from wlm.locations.models import AccessPoint, Room, elements_at


def element_model(license: License):
    return Room if license.license_type == LicenseType.ROOMS else AccessPoint


def in_use(model, license) -> Subquery:
    """Elements of ``model`` over all the locations ``license`` (a row, an id or an
    ``OuterRef`` to one) is assigned to, as a subquery expression (a location holds one
    assignment per license: none is counted twice). The entitlement's "used" figures."""
    return elements_at(model, location__assignments__license=license)


def elements_in_use(license: License, extra_locations: Iterable = ()) -> int:
    """What the license's limit counts now, at its locations plus ``extra_locations``
    (not assigned to it yet: Send Key, an assignment), in one query."""
    model = element_model(license)
    counts = [in_use(model, license.pk)]
    extra = [getattr(location, "pk", location) for location in extra_locations]
    if extra:
        counts.append(elements_at(model, location__in=extra))
    return sum(License.objects.filter(pk=license.pk).values_list(*counts).get())


class OverLimit(Conflict):
    """409 for a limit. The body names the elements counted, what the license allows
    and what is (or would be) in use, so a client need not read the message."""

    default_code = "over_limit"

    def __init__(self, detail: str, *, license: License, in_use: int, limit: int):
        super().__init__(detail)
        rooms = license.license_type == LicenseType.ROOMS
        self.extensions = {
            "elements": "rooms" if rooms else "access_points",
            "limit": limit,
            "in_use": in_use,
        }


def require_within_limit(license: License, in_use: int, limit: int | None = None) -> None:
    """409 that says what is in use and what is allowed when ``in_use`` exceeds the limit."""
    limit = license.limit if limit is None else limit
    if in_use > limit:
        if license.license_type == LicenseType.ROOMS:
            message = _("License %(key)s allows %(limit)d rooms; %(in_use)d would be in use.")
        else:
            message = _(
                "License %(key)s allows %(limit)d access points; %(in_use)d would be in use."
            )
        raise OverLimit(
            message % {"key": license.key, "limit": limit, "in_use": in_use},
            license=license,
            in_use=in_use,
            limit=limit,
        )


def require_not_over_limit(license: License, *, upgradable: bool) -> None:
    """Before a license holds its locations again, or longer (a renewal, a restore): 409
    while they hold more elements than it allows.

    The caller holds the license's lock (``lifecycle.lock``); adding an element locks
    every license assigned to the location, finalized ones too, so an addition either
    committed before this count or waits and is checked against the license after it.
    ``upgradable``: whether the license can be upgraded now (the message says so).
    """
    in_use, limit = elements_in_use(license), license.limit
    if in_use <= limit:
        return
    numbers = {"in_use": in_use, "limit": limit, "excess": in_use - limit}
    rooms = license.license_type == LicenseType.ROOMS
    # whole sentences for each kind of element, so each translates as a sentence
    if upgradable and rooms:
        message = _(
            "The locations hold %(in_use)d rooms; this license allows %(limit)d. "
            "Remove %(excess)d or upgrade the license first."
        )
    elif upgradable:
        message = _(
            "The locations hold %(in_use)d access points; this license allows %(limit)d. "
            "Remove %(excess)d or upgrade the license first."
        )
    elif rooms:
        message = _(
            "The locations hold %(in_use)d rooms; this license allows %(limit)d. "
            "Remove %(excess)d first, or use a license with a higher limit."
        )
    else:
        message = _(
            "The locations hold %(in_use)d access points; this license allows %(limit)d. "
            "Remove %(excess)d first, or use a license with a higher limit."
        )
    raise OverLimit(message % numbers, license=license, in_use=in_use, limit=limit)


def require_room_for_one_more(location, model) -> None:
    """Before adding one ``model`` element (AccessPoint or Room) at ``location``.

    Call inside the transaction that adds it, after locking the location row. Every
    license assigned to the location is locked too (in id order), whatever its status:
    concurrent additions at any of its locations serialise and cannot pass the limit
    together, and a renewal or a restore of a license that limits nothing now waits for
    the addition and counts it. Only a license that holds the location (its status,
    read under the lock, is active) limits the addition.
    """
    assigned = Assignment.objects.filter(location=location).values("license_id")
    licenses = License.objects.select_for_update().filter(pk__in=assigned).order_by("pk")
    for license in licenses:
        if license.status in ACTIVE_STATUSES and element_model(license) is model:
            require_within_limit(license, elements_in_use(license) + 1)
