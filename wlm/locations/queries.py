"""The locations list's queryset, shared by the API, the page and the CSV export.

Each location carries its license as the caller sees it (a join to the stored
``CurrentLicense``) and its element counts (``elements_at``, correlated subqueries), all
as columns of the list's one SELECT: no query per row.
"""

from django.db.models import OuterRef, Q, QuerySet

from wlm.lib.csv import Column, DateTime, Export, Label
from wlm.licenses.models import License, LicenseStatus
from wlm.locations.models import AccessPoint, Location, Room, Sector, elements_at

LICENSE = "current__license"  # the location's license: CurrentLicense, joined


def license_condition(user, **lookups) -> Q:
    """Locations whose license ``user`` sees and that matches ``lookups`` on its own
    columns (``status__in=…``, ``end_date__gte=…``): the rows that a filter on the
    masked ``license_*`` annotations selects, but written on plain columns, which
    PostgreSQL can estimate (a CASE it cannot: it then joins every location)."""
    matching = Q(**{f"{LICENSE}__{lookup}": value for lookup, value in lookups.items()})
    return matching & License.objects.visible_through(LICENSE, user)


def license_annotations(user) -> dict:
    """The location's license (stored: ``CurrentLicense``), masked to what ``user`` sees.

    ``license_pk``, ``license_key``, ``license_status`` and ``license_end`` are NULL when
    the location has no license or its license is not visible to the user, so neither
    the rows nor the filters reveal another tenant's license. One join, no subquery per
    row; filters go through ``license_condition``.
    """

    def column(name):
        return License.objects.shown_through(LICENSE, user, name)

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
    return locations.annotate(
        access_point_count=elements_at(AccessPoint, location=OuterRef("pk")),
        room_count=elements_at(Room, location=OuterRef("pk")),
    ).annotate(**license_annotations(user))


# ``?format=csv`` of the locations list (docs/api.md, "CSV"): the JSON row's columns with
# the license as four flat ones in its place, then the names and labels.
LOCATION_CSV = Export(
    [
        Column("id"),
        Column("name"),
        Column("organization", "organization_id"),
        Column("sector"),
        Column("timezone"),
        Column("address"),
        Column("country"),
        Column("license_id", "license_pk"),
        Column("license_key"),
        Column("license_status"),
        Column("license_end_date", "license_end"),
        Column("access_points", "access_point_count"),
        Column("rooms", "room_count"),
        DateTime("created"),
        Column("organization_name", "organization__name"),
        Label("sector_label", "sector", Sector.choices),
        Label("license_status_label", "license_status", LicenseStatus.choices),
    ]
)
