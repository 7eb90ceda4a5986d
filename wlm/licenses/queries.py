"""Querysets over licenses shared by the API and the pages, and the query expressions
that other apps annotate onto their rows."""

from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from wlm.licenses.models import ACTIVE_STATUSES, License, LicenseStatus, Module


def license_rows() -> QuerySet:
    """Licenses with their modules prefetched in code order: the rows of the licenses
    list (API, page and CSV) and the base of the license view."""
    return License.objects.prefetch_related(Prefetch("modules", Module.objects.order_by("code")))


def assignments_with_counts(license: License) -> QuerySet:
    """The license's assignments with each location's number of access points and
    rooms: the "Assignments" tab, and the "in use" figures of "General data"."""
    return license.assignments.select_related("location").annotate(
        access_point_count=Count("location__access_points", distinct=True),
        room_count=Count("location__rooms", distinct=True),
    )


def current_license_id(location_ref="pk"):
    """The id of "the location's license", or NULL: a subquery expression.

    The same choice as ``entitlement.entitlement_for``: among the licenses assigned to
    the location, ``assigned_first`` (one in ``ACTIVE_STATUSES`` first, then the latest
    assignment); with none assigned, the latest
    ``pending_provision`` license intended for the location (``License.location``).

    ``location_ref`` names the outer location's id (``"pk"`` on a ``Location``
    queryset, e.g. ``"location"`` on a row that points at one; an ``OuterRef`` for a
    nested subquery): ``Location.objects.annotate(license_id_=current_license_id())``.
    It does not scope by tenant: callers mask what the user may not see.
    """
    if isinstance(location_ref, str):
        location_ref = OuterRef(location_ref)
    assigned = assigned_first(location_ref).values("pk")[:1]
    pending = (
        License.objects.filter(location=location_ref, status=LicenseStatus.PENDING_PROVISION)
        .order_by("-created", "-pk")
        .values("pk")[:1]
    )
    return Coalesce(Subquery(assigned), Subquery(pending))


def status_rank(status: str) -> tuple[bool, bool]:
    """All that ``current_license_id`` reads of a license's status: whether it is active
    (``ACTIVE_STATUSES``) and whether it is ``pending_provision``. A status change that
    keeps both (a start, a denial, most restores) changes no location's license."""
    return status in ACTIVE_STATUSES, status == LicenseStatus.PENDING_PROVISION


def assigned_first(location) -> QuerySet:
    """Licenses assigned to ``location`` (a row, an id or an ``OuterRef``), the one that
    counts first: an active one, then the latest assignment. The one ranking used by the
    entitlement and by the locations list."""
    return (
        License.objects.filter(assignments__location=location)
        .annotate(
            active=Case(
                When(status__in=ACTIVE_STATUSES, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-active", "-assignments__created", "-pk")
    )
