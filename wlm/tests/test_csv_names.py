"""The other lists' CSV with names (docs/api.md, "CSV columns"): tenants, users, modules,
access points, rooms, notices and the inbox. Each file has the JSON row's columns first,
in its order and written as the JSON rows write them (so a file read by position keeps
working), then the names, ids and labels in their own columns; the list's rows (the
tenancy door and the FilterSet) in the list's order; streamed; text defused against
spreadsheet formulas."""

import csv
import io

import pytest
import time_machine
from rest_framework.test import APIClient

from wlm.lib import clock
from wlm.lib import csv as lib_csv
from wlm.licenses import lifecycle, services
from wlm.licenses.models import Module
from wlm.locations.models import AccessPoint, Room
from wlm.notifications import worker
from wlm.tenancy.models import Distributor, Membership, Organization, Partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    """``api(user)``: an API client signed in as ``user`` (not through a token: the
    tokens are not what these tests are about)."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


def exported(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def header(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    text = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(text)))


def as_written(row: dict) -> dict:
    """A JSON row as the CSV writes it (lists ``a;b``, objects JSON, text defused)."""
    return {key: lib_csv.defuse(lib_csv._cell(value)) for key, value in row.items()}


def json_rows(client, url, query=None) -> list[dict]:
    body = client.get(url, {**(query or {}), "page_size": 500}).json()
    assert not body["next"]
    return body["results"]


def same_json_columns(client, url, query=None) -> list[dict]:
    """The CSV's rows, after checking that their JSON columns are the JSON list's rows
    in the same order, cell for cell."""
    rows = exported(client.get(url, {**(query or {}), "format": "csv"}))
    expected = [as_written(row) for row in json_rows(client, url, query)]
    assert [{key: row[key] for key in expected[0]} for row in rows] == expected
    return rows


# --- Tenants ---------------------------------------------------------------------------


def test_distributors_csv_has_the_json_columns_then_the_language_label(world, api):
    rows = same_json_columns(api(world.staff), "/api/v1/distributors/")
    assert list(rows[0]) == [
        "id",
        "name",
        "email",
        "webhook_url",
        "language",
        "created",
        "language_label",
    ]
    assert [row["name"] for row in rows] == ["Dist", "Other Dist"]
    assert rows[0]["language_label"] == "English"


def test_partners_csv_names_their_distributors_the_reader_sees(world, api):
    world.partner.distributors.add(world.other_dist)
    rows = same_json_columns(api(world.staff), "/api/v1/partners/")
    assert list(rows[0]) == [
        "id",
        "name",
        "email",
        "webhook_url",
        "language",
        "distributors",
        "created",
        "distributor_names",
        "language_label",
    ]
    partner = next(row for row in rows if row["name"] == "Partner")
    # by name, as the JSON row lists their ids
    assert partner["distributors"] == f"{world.dist.pk};{world.other_dist.pk}"
    assert partner["distributor_names"] == "Dist;Other Dist"
    # a distributor reads the partner's other distributor's id (as in JSON), not its name
    seen = exported(api(world.dist_admin).get("/api/v1/partners/", {"format": "csv"}))
    assert [(row["name"], row["distributors"], row["distributor_names"]) for row in seen] == [
        ("Partner", f"{world.dist.pk};{world.other_dist.pk}", "Dist;")
    ]


def test_partners_csv_filtered_by_distributor_keeps_all_their_distributors(world, api):
    world.partner.distributors.add(world.other_dist)
    client = api(world.staff)
    rows = same_json_columns(client, "/api/v1/partners/", {"distributors": world.other_dist.pk})
    assert [(row["name"], row["distributor_names"]) for row in rows] == [
        ("Other Partner", "Other Dist"),
        ("Partner", "Dist;Other Dist"),
    ]


def test_organizations_csv_has_the_partner_name(world, api):
    rows = same_json_columns(api(world.dist_viewer), "/api/v1/organizations/")
    assert list(rows[0]) == [
        "id",
        "name",
        "email",
        "webhook_url",
        "language",
        "partner",
        "created",
        "partner_name",
        "language_label",
    ]
    assert [(row["name"], row["partner"], row["partner_name"]) for row in rows] == [
        ("Org", str(world.partner.pk), "Partner")
    ]


def test_tenants_csv_show_the_webhook_url_only_to_their_own_admins(world, api):
    Organization.objects.filter(pk=world.org.pk).update(webhook_url="https://hooks.example/o")
    for person, shown in (("org_admin", True), ("org_viewer", False), ("partner_admin", False)):
        rows = exported(api(getattr(world, person)).get("/api/v1/organizations/?format=csv"))
        assert rows[0]["webhook_url"] == ("https://hooks.example/o" if shown else ""), person


def test_tenants_csv_follow_the_filters_and_the_order(world, api):
    Distributor.objects.create(name="Alpha Dist")
    client = api(world.staff)
    rows = same_json_columns(client, "/api/v1/distributors/", {"ordering": "-name"})
    assert [row["name"] for row in rows] == ["Other Dist", "Dist", "Alpha Dist"]
    rows = same_json_columns(client, "/api/v1/distributors/", {"q": "alpha"})
    assert [row["name"] for row in rows] == ["Alpha Dist"]


def test_tenants_csv_defuse_formulas(world, api):
    Partner.objects.filter(pk=world.partner.pk).update(name="=HYPERLINK(1)")
    rows = exported(api(world.org_admin).get("/api/v1/organizations/?format=csv"))
    assert rows[0]["partner_name"] == "'=HYPERLINK(1)"
    rows = exported(api(world.partner_admin).get("/api/v1/partners/?format=csv"))
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_a_tenant_csv_without_rows_has_its_header(world, api):
    response = api(world.staff).get("/api/v1/partners/", {"q": "nobody", "format": "csv"})
    assert header(response)[-2:] == ["distributor_names", "language_label"]


def test_a_partner_csv_asked_for_one_partner_is_its_row(world, api):
    """The join of the export is the list's alone: a partner read as CSV is one row."""
    world.partner.distributors.add(world.other_dist)
    response = api(world.staff).get(f"/api/v1/partners/{world.partner.pk}/", {"format": "csv"})
    assert response.status_code == 200
    assert len(response.content.decode().splitlines()) == 2


# --- Users -----------------------------------------------------------------------------


def test_users_csv_has_the_tenant_name_and_the_labels(world, api):
    rows = same_json_columns(api(world.partner_admin), "/api/v1/users/")
    assert list(rows[0]) == [
        "id",
        "username",
        "email",
        "tenant_type",
        "tenant_id",
        "role",
        "language",
        "is_active",
        "invitation_pending",
        "tenant_name",
        "tenant_type_label",
        "role_label",
        "language_label",
    ]
    # the partner's people and its organization's, by username
    assert [(r["username"], r["tenant_name"], r["tenant_type_label"]) for r in rows] == [
        ("org_admin", "Org", "Organization"),
        ("org_viewer", "Org", "Organization"),
        ("partner_admin", "Partner", "Partner"),
        ("partner_viewer", "Partner", "Partner"),
    ]
    assert rows[1]["role_label"] == "Viewer" and rows[0]["language_label"] == "English"


def test_users_csv_of_staff_names_every_tenant_and_keeps_filters(world, api):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = api(world.staff)
    rows = same_json_columns(client, "/api/v1/users/")
    by_name = {row["username"]: row for row in rows}
    assert by_name["dist_admin"]["tenant_name"] == "Dist"
    assert by_name["staff"]["tenant_name"] == "" and by_name["staff"]["tenant_id"] == ""
    # a superuser without a membership reads as a staff admin, as in JSON
    assert (by_name["root"]["tenant_type"], by_name["root"]["role_label"]) == (
        "staff",
        "Administrator",
    )
    rows = same_json_columns(client, "/api/v1/users/", {"tenant_type": "distributor"})
    assert [row["username"] for row in rows] == ["dist_admin", "dist_viewer", "other_dist_admin"]


def test_users_csv_labels_are_in_the_readers_language(world, api):
    Membership.objects.filter(user=world.org_admin).update(language="es")
    rows = exported(
        api(world.org_admin).get("/api/v1/users/?format=csv", HTTP_ACCEPT_LANGUAGE="es")
    )
    assert rows[0]["tenant_type_label"] == "Organización"
    assert rows[0]["role_label"] == "Administrador"


# --- Modules ---------------------------------------------------------------------------


def test_modules_csv_has_the_json_columns_then_the_kind(world, api):
    rows = same_json_columns(api(world.org_viewer), "/api/v1/modules/")
    assert list(rows[0]) == ["code", "name", "description", "advanced", "advanced_label"]
    assert len(rows) == Module.objects.count()
    labels = {row["advanced"]: row["advanced_label"] for row in rows}
    assert labels == {"False": "Base", "True": "Advanced"}


# --- Access points and rooms ----------------------------------------------------------


def test_access_points_csv_has_the_location_and_organization(world, api):
    AccessPoint.objects.create(location=world.hotel, mac="02:00:00:00:00:00", name="=Bar")
    url = f"/api/v1/locations/{world.hotel.pk}/access-points/"
    rows = same_json_columns(api(world.org_viewer), url)
    assert list(rows[0]) == [
        "id",
        "mac",
        "name",
        "created",
        "location",
        "location_name",
        "organization",
        "organization_name",
    ]
    assert [(row["mac"], row["name"]) for row in rows] == [
        ("02:00:00:00:00:00", "'=Bar"),
        ("02:00:00:00:00:01", "Lobby"),
    ]
    assert rows[0]["location"] == str(world.hotel.pk)
    assert (rows[0]["location_name"], rows[0]["organization"], rows[0]["organization_name"]) == (
        "Hotel",
        str(world.org.pk),
        "Org",
    )
    # another organization's location: the same 404 as its JSON list
    other = f"/api/v1/locations/{world.other_office.pk}/access-points/?format=csv"
    assert api(world.org_viewer).get(other).status_code == 404


def test_rooms_csv_has_the_location_and_organization(world, api):
    Room.objects.create(location=world.hotel, number="100")
    url = f"/api/v1/locations/{world.hotel.pk}/rooms/"
    rows = same_json_columns(api(world.partner_viewer), url, {"ordering": "-number"})
    assert list(rows[0]) == [
        "id",
        "number",
        "created",
        "location",
        "location_name",
        "organization",
        "organization_name",
    ]
    assert [(row["number"], row["location_name"], row["organization_name"]) for row in rows] == [
        ("101", "Hotel", "Org"),
        ("100", "Hotel", "Org"),
    ]


# --- Notices and the inbox ------------------------------------------------------------


@pytest.fixture
def in_use(world):
    """The shop's license in use: its six notices scheduled; the first one sent."""
    terms = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="monthly", aps=5
    )
    license = services.create_license(world.staff, terms)
    lifecycle.provision(world.org_admin, world.shop, license.key)
    lifecycle.start(license.pk, clock.today_in(world.shop.timezone))
    first = license.notices.order_by("due_at").first()
    with time_machine.travel(first.due_at, tick=False):
        worker.run_pass()
    return license


def test_notices_csv_has_the_licenses_names_and_the_state_label(world, api, in_use):
    rows = same_json_columns(api(world.dist_viewer), "/api/v1/notifications/")
    assert list(rows[0])[:11] == [
        "id",
        "license",
        "key",
        "number",
        "due",
        "due_at",
        "end_date",
        "state",
        "decided_at",
        "sent_at",
        "deliveries",
    ]
    assert list(rows[0])[11:] == [
        "organization",
        "organization_name",
        "location",
        "location_name",
        "partner_name",
        "distributor_name",
        "state_label",
    ]
    assert [row["number"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    first = rows[0]
    assert (first["organization"], first["organization_name"]) == (str(world.org.pk), "Org")
    assert (first["location"], first["location_name"]) == (str(world.shop.pk), "Shop")
    assert (first["partner_name"], first["distributor_name"]) == ("Partner", "Dist")
    assert rows[0]["state_label"] != "" and rows[-1]["state_label"] == "Pending"
    # the filters of the list, and its order
    rows = same_json_columns(
        api(world.dist_viewer), "/api/v1/notifications/", {"number": [2, 5], "ordering": "-due_at"}
    )
    assert [row["number"] for row in rows] == ["5", "2"]
    assert exported(api(world.other_dist_admin).get("/api/v1/notifications/?format=csv")) == []


def test_notices_csv_header_without_rows(world, api):
    response = api(world.org_admin).get("/api/v1/notifications/?format=csv")
    assert header(response)[-3:] == ["partner_name", "distributor_name", "state_label"]


def test_inbox_csv_has_the_licenses_names(world, api, in_use):
    Organization.objects.filter(pk=world.org.pk).update(name="@Org")
    Membership.objects.filter(user=world.org_admin).update(language="en")
    rows = same_json_columns(api(world.org_admin), "/api/v1/inbox/")
    assert list(rows[0]) == [
        "id",
        "license",
        "key",
        "number",
        "due",
        "subject",
        "text",
        "superseded",
        "read_at",
        "created",
        "organization",
        "organization_name",
        "location",
        "location_name",
        "partner_name",
        "distributor_name",
    ]
    assert len(rows) == 1
    row = rows[0]
    assert (row["license"], row["key"], row["number"]) == (str(in_use.pk), in_use.key, "1")
    assert (row["organization_name"], row["location"], row["location_name"]) == (
        "'@Org",
        str(world.shop.pk),
        "Shop",
    )
    read = api(world.org_admin).get("/api/v1/inbox/", {"format": "csv", "unread": "false"})
    assert exported(read) == []
