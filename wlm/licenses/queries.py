"""Query expressions over licenses that other apps annotate onto their rows."""

from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from wlm.licenses.models import ACTIVE_STATUSES, License, LicenseStatus


def current_license_id(location_ref="pk"):
    """The id of "the location's license", or NULL: a subquery expression.

    The same choice as ``entitlement.entitlement_for``: among the licenses assigned to
    the location, one in ``ACTIVE_STATUSES`` first, then the latest assignment
    (``-assignments__created``, ``-pk``); with none assigned, the latest
    ``pending_provision`` license intended for the location (``License.location``).

    ``location_ref`` names the outer location's id (``"pk"`` on a ``Location``
    queryset, e.g. ``"location"`` on a row that points at one; an ``OuterRef`` for a
    nested subquery): ``Location.objects.annotate(license_id_=current_license_id())``.
    It does not scope by tenant: callers mask what the user may not see.
    """
    if isinstance(location_ref, str):
        location_ref = OuterRef(location_ref)
    assigned = (
        License.objects.filter(assignments__location=location_ref)
        .annotate(
            active=Case(
                When(status__in=ACTIVE_STATUSES, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-active", "-assignments__created", "-pk")
        .values("pk")[:1]
    )
    pending = (
        License.objects.filter(location=location_ref, status=LicenseStatus.PENDING_PROVISION)
        .order_by("-created", "-pk")
        .values("pk")[:1]
    )
    return Coalesce(Subquery(assigned), Subquery(pending))
