"""The locations list's queryset, shared by the API, the page and the CSV export.

Each location carries its license as the caller sees it (a join to the stored
``CurrentLicense``) and its element counts (``elements_at``, correlated subqueries), all
as columns of the list's one SELECT: no query per row.
"""

from django.db.models import F, OrderBy, OuterRef, Q, QuerySet

from wlm.lib.csv import Column, DateTime, Export, Label
from wlm.lib.pagination import CappedPaginator, PageNumberPagination
from wlm.licenses.models import License, LicenseStatus
from wlm.locations.models import AccessPoint, Location, Room, Sector, elements_at

LICENSE = "current__license"  # the location's license: CurrentLicense, joined
CURRENT = "current"  # its row, with the copies of the license's status and end date


def license_condition(user, **lookups) -> Q:
    """Locations whose license ``user`` sees and whose status or end date matches
    ``lookups`` (``status__in=…``, ``end_date__gte=…``): the rows that a filter on the
    masked ``license_*`` annotations selects, but written on plain columns, which
    PostgreSQL can estimate (a CASE it cannot: it then joins every location). The
    columns are ``CurrentLicense``'s copies of the license's (the same values,
    ``licenses.current``), its tenants' too, so the license's tenancy door is passed on
    the stored row, which its ``(tenant, status)`` indexes hold, without joining the
    license."""
    matching = Q(**{f"{CURRENT}__{lookup}": value for lookup, value in lookups.items()})
    return matching & License.objects.visible_through(CURRENT, user)


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


def by_license_end(rows: QuerySet) -> tuple[QuerySet, QuerySet] | None:
    """``rows`` sorted by the license's end date (``ordering_terms``: ``license_end`` up
    or down, empty last, then the id), as two lists read one after the other; None for
    any other order.

    The end date shown is masked (``license_annotations``: a CASE over the joined
    license), which no index holds, so PostgreSQL joins and sorts every location the
    filters leave. The same order in two parts: first the locations with a visible
    license that has an end date, sorted by ``CurrentLicense``'s copy of it (the same
    value), which its indexes (``current_license_end_*_idx``) hold in that order with the
    location's id, so page 1 and a deep page read as many rows as they show; then the
    others (no license, an invisible one, no end date yet), by id."""
    order = rows.query.order_by
    if len(order) != 2 or order[1] != "pk" or "license_end" not in rows.query.annotations:
        return None
    term = order[0]
    if not (
        isinstance(term, OrderBy)
        and isinstance(term.expression, F)
        and term.expression.name == "license_end"
        and term.nulls_last
    ):
        return None
    stored = F(f"{CURRENT}__end_date")
    stored = stored.desc(nulls_last=True) if term.descending else stored.asc(nulls_last=True)
    dated = rows.filter(**{f"{CURRENT}__end_date__isnull": False, "license_end__isnull": False})
    undated = rows.filter(license_end__isnull=True)
    return dated.order_by(stored, "pk"), undated.order_by("pk")


class LocationPaginator(CappedPaginator):
    """The capped paginator, whose ids sorted by the license's end date are read in the
    two parts of ``by_license_end``: the second only when the first has too few."""

    def read_ids(self, rows, limit: int) -> list:
        parts = by_license_end(rows)
        if parts is None:
            return super().read_ids(rows, limit)
        dated, undated = parts
        ids = list(dated.values_list("pk", flat=True)[:limit])
        if len(ids) < limit:
            ids += undated.values_list("pk", flat=True)[: limit - len(ids)]
        return ids


class LocationPagination(PageNumberPagination):
    """The API's pagination with ``LocationPaginator``."""

    django_paginator_class = LocationPaginator


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
