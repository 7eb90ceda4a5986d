"""Querysets over licenses shared by the API and the pages."""

from django.db.models import OuterRef, Prefetch, QuerySet

from wlm.licenses.models import License, Module
from wlm.locations.models import AccessPoint, Room, elements_at


def license_rows() -> QuerySet:
    """Licenses with their modules prefetched in code order: the rows of the licenses
    list (API, page and CSV) and the base of the license view."""
    return License.objects.prefetch_related(Prefetch("modules", Module.objects.order_by("code")))


def assignments_with_counts(license: License) -> QuerySet:
    """The license's assignments with each location's number of access points and
    rooms: the "Assignments" tab, and the "in use" figures of "General data"."""
    return license.assignments.select_related("location").annotate(
        access_point_count=elements_at(AccessPoint, location=OuterRef("location")),
        room_count=elements_at(Room, location=OuterRef("location")),
    )
