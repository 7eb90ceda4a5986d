"""What a license's limit counts: access points, or rooms for a rooms license,
over all the locations it is assigned to (DESIGN §4, Limits)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from wlm.lib.problems import Conflict
from wlm.licenses.models import ACTIVE_STATUSES, Assignment, License, LicenseType
from wlm.locations.models import AccessPoint, Room


def element_model(license: License):
    return Room if license.license_type == LicenseType.ROOMS else AccessPoint


def elements_in_use(license: License, extra_locations: Iterable = ()) -> int:
    """Configured elements at the license's locations (plus ``extra_locations``)."""
    locations = set(license.assignments.values_list("location_id", flat=True))
    locations.update(getattr(location, "pk", location) for location in extra_locations)
    return element_model(license).objects.filter(location_id__in=locations).count()


def require_within_limit(license: License, in_use: int, limit: int | None = None) -> None:
    """409 that says what is in use and what is allowed when ``in_use`` exceeds the limit."""
    limit = license.limit if limit is None else limit
    if in_use > limit:
        what = _("rooms") if license.license_type == LicenseType.ROOMS else _("access points")
        raise Conflict(
            _("License %(key)s allows %(limit)d %(what)s; %(in_use)d would be in use.")
            % {"key": license.key, "limit": limit, "what": what, "in_use": in_use}
        )


def require_room_for_one_more(location, model) -> None:
    """Before adding one ``model`` element (AccessPoint or Room) at ``location``.

    Call inside the transaction that adds it, after locking the location row. Each
    active license of the location is locked too (in id order), so concurrent
    additions at any of its locations serialise and cannot pass the limit together.
    """
    held = Assignment.objects.filter(location=location, license__status__in=ACTIVE_STATUSES)
    licenses = (
        License.objects.select_for_update().filter(pk__in=held.values("license_id")).order_by("pk")
    )
    for license in licenses:
        if element_model(license) is model:
            require_within_limit(license, elements_in_use(license) + 1)
