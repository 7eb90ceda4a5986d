"""The locations list's queryset, shared by the API, the page and the CSV export.

Each location carries its license as the caller sees it and its element counts, all as
columns of the list's one SELECT (correlated subqueries): no query per row.
"""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from wlm.licenses.models import License
from wlm.licenses.queries import current_license_id
from wlm.locations.models import AccessPoint, Location, Room


def element_count(model):
    """How many rows of ``model`` (AccessPoint or Room) the outer location has."""
    rows = (
        model.objects.filter(location=OuterRef("pk"))
        .order_by()
        .values("location")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def license_annotations(user) -> dict:
    """The location's license (``current_license_id``), masked to what ``user`` sees.

    ``license_pk``, ``license_key``, ``license_status`` and ``license_end`` are NULL when
    the location has no license or its license is not visible to the user, so neither
    the rows nor the filters reveal another tenant's license.
    """
    visible = License.objects.visible_to(user).filter(pk=OuterRef("current_license")).order_by()

    def column(name):
        return Subquery(visible.values(name)[:1])

    return {
        "license_pk": column("pk"),
        "license_key": column("key"),
        "license_status": column("status"),
        "license_end": column("end_date"),
    }


def with_license(user, locations: QuerySet | None = None) -> QuerySet:
    """Locations annotated with ``access_point_count``, ``room_count`` and the
    ``license_*`` columns that ``LocationFilterSet`` filters and the lists show.

    Not scoped itself: callers still go through ``visible_to(user)``.
    """
    if locations is None:
        locations = Location.objects.all()
    return (
        locations.alias(current_license=current_license_id())
        .annotate(access_point_count=element_count(AccessPoint), room_count=element_count(Room))
        .annotate(**license_annotations(user))
    )
