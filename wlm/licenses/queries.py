"""Querysets over licenses shared by the API and the pages, and the licenses' CSV."""

from django.db.models import Func, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from wlm.lib.csv import Chosen, Column, DateTime, Export, Label, Many, Related
from wlm.licenses.models import (
    Assignment,
    License,
    LicenseStatus,
    LicenseType,
    Module,
    RequestKind,
    RequestState,
)
from wlm.locations.models import AccessPoint, Location, Room, elements_at


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


def _assigned(**where) -> QuerySet:
    return Assignment.objects.filter(license=OuterRef("pk"), **where)


def with_location_names(licenses: QuerySet) -> QuerySet:
    """The licenses page's Location column, as columns of its one query: the license's
    assigned locations (``location_count``) and the first of them by name
    (``first_location_name``); a license not yet activated (no assignment) shows the
    location it was made for. Subqueries, not joins: the page's rows are read by id
    (``CappedPaginator``), so they run for the shown rows only and the query that picks
    the rows stays as it was."""
    first = _assigned().order_by("location__name", "location_id").values("location__name")
    count = _assigned().order_by().annotate(n=Func("pk", function="COUNT")).values("n")
    intended = Location.objects.filter(pk=OuterRef("location_id")).values("name")
    return licenses.annotate(
        location_count=Coalesce(Subquery(count, output_field=IntegerField()), 0),
        first_location_name=Coalesce(Subquery(first[:1]), Subquery(intended)),
    )


# a license's modules (by code, as the JSON rows list them) and assigned locations (by
# name), read through joins in the export's one query
_MODULES = Related("modules__code")
_ASSIGNED = Related(
    "assignments__location_id", ("assignments__location__name", "assignments__location_id")
)


# ``?format=csv`` of the licenses list (docs/api.md, "CSV"): the JSON row's columns in
# its order (``aps``/``rooms``: the limit of that type), then the names and labels.
LICENSE_CSV = Export(
    [
        Column("id"),
        Column("key"),
        Column("organization", "organization_id"),
        Many("modules", _MODULES, "modules__code"),
        Chosen("aps", "limit", "license_type", LicenseType.APS),
        Chosen("rooms", "limit", "license_type", LicenseType.ROOMS),
        Column("status"),
        Column("start_date"),
        Column("end_date"),
        Column("years"),
        Column("payment"),
        Column("distributor", "distributor_id"),
        Column("partner", "partner_id"),
        Column("location", "location_id"),
        Column("license_type"),
        Column("limit"),
        Column("start_mode"),
        Column("fixed_start"),
        Column("timezone"),
        DateTime("created"),
        DateTime("provisioned"),
        # then the names and labels (the JSON row's columns keep their places)
        Column("organization_name", "organization__name"),
        Column("partner_name", "partner__name"),
        Column("distributor_name", "distributor__name"),
        Column("location_name", "location__name"),
        Many("assigned_locations", _ASSIGNED, "assignments__location_id"),
        Many("assigned_location_names", _ASSIGNED, "assignments__location__name"),
        Many("module_names", _MODULES, "modules__name"),
        Label("status_label", "status", LicenseStatus.choices),
    ]
)


# a request's modules in the catalogue's order, as the JSON rows list them
_REQUEST_MODULES = Related("modules__code", ("modules__advanced", "modules__code"))
_ADDED = Related("add_modules__code", ("add_modules__advanced", "add_modules__code"))
_REMOVED = Related("remove_modules__code", ("remove_modules__advanced", "remove_modules__code"))


def requests_for_csv(requests: QuerySet, user) -> QuerySet:
    """The requests with ``license_key``: the license's key where ``user`` sees the
    license, as the requests page shows it (an organization reads it from Send Key on)."""
    return requests.annotate(license_key=License.objects.shown_through("license", user, "key"))


# ``?format=csv`` of the license requests (docs/api.md, "CSV"): the JSON row's columns,
# then the names, the key and the state's label. Rows from ``requests_for_csv``.
REQUEST_CSV = Export(
    [
        Column("id"),
        Column("location", "location_id"),
        Column("partner", "partner_id"),
        Column("distributor", "distributor_id"),
        Column("years"),
        Column("payment"),
        Column("aps"),
        Column("rooms"),
        Many("modules", _REQUEST_MODULES, "modules__code"),
        Column("state"),
        Column("reason"),
        Column("license", "license_id"),
        DateTime("created"),
        DateTime("decided"),
        Column("kind"),
        Many("add_modules", _ADDED, "add_modules__code"),
        Many("remove_modules", _REMOVED, "remove_modules__code"),
        Column("location_name", "location__name"),
        Column("organization", "location__organization_id"),
        Column("organization_name", "location__organization__name"),
        Column("partner_name", "partner__name"),
        Column("distributor_name", "distributor__name"),
        Column("license_key"),
        Many("module_names", _REQUEST_MODULES, "modules__name"),
        Label("state_label", "state", RequestState.choices),
        Label("kind_label", "kind", RequestKind.choices),
    ]
)
