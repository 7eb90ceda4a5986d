# ruff: noqa: F811 (the fixture ``catalogue`` is imported, then named by the tests)
"""Lists and exports of licenses and license requests (docs/pages.md, "Lists and
exports"; docs/api.md, "CSV"): the page's Location and Partner columns for every tenant
type, the CSV's columns (the JSON row's, then names and labels), its rows (the list's
filters, tenancy and order) and its streaming, and empty dates sorted last both ways."""

import csv
import datetime as dt
import io
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wlm.lib import csv as lib_csv
from wlm.lib.filters import ordering_terms
from wlm.licenses import current, services
from wlm.licenses.models import Assignment, License, LicenseStatus, Module
from wlm.licenses.tests.conftest import ask

# the five licenses of the API tests, as a fixture of these tests too
from wlm.licenses.tests.test_licenses_api import add_location, catalogue  # noqa: F401
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.tenancy.models import Organization

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LICENSES = "/api/v1/licenses/"
REQUESTS = "/api/v1/license-requests/"
LIST = "/licenses/"
LICENSE_JSON = [
    "id",
    "key",
    "organization",
    "modules",
    "aps",
    "rooms",
    "status",
    "start_date",
    "end_date",
    "years",
    "payment",
    "distributor",
    "partner",
    "location",
    "license_type",
    "limit",
    "start_mode",
    "fixed_start",
    "timezone",
    "created",
    "provisioned",
]
LICENSE_NAMES = [
    "organization_name",
    "partner_name",
    "distributor_name",
    "location_name",
    "assigned_locations",
    "assigned_location_names",
    "module_names",
    "status_label",
]


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def exported(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response.streaming  # StreamingHttpResponse: rows written as they are read
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def header(response) -> list[str]:
    text = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(text)))


def json_rows(client, url, query) -> list[dict]:
    """Every JSON row of a list, in its order (the pages of the API)."""
    rows, page = [], 1
    while True:
        body = client.get(url, {**query, "page": page, "page_size": 500}).json()
        rows += body["results"]
        if not body["next"]:
            return rows
        page += 1


def as_cells(row: dict) -> dict:
    """A JSON row as the serializer writer wrote it into CSV cells (the columns the CSV
    keeps from before the names were added)."""
    return {key: lib_csv.defuse(lib_csv._cell(value)) for key, value in row.items()}


def page_rows(client, user, query=None) -> list[dict]:
    """The licenses page's rows: each cell by its column's label (``data-label``)."""
    client.force_login(user)
    response = client.get(LIST, query or {})
    assert response.status_code == 200
    found = re.findall(r'(<tr data-key="([^"]+)".*?</tr>)', response.content.decode(), re.S)
    return [
        {"key": key, **dict(re.findall(r'<td[^>]*data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S))}
        for row, key in found
    ]


# --- The licenses page: Location and Partner -------------------------------------------


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", "abcde"),
        ("dist_viewer", "abcd"),
        ("partner_admin", "abcd"),
        ("org_viewer", "acd"),  # b is not activated yet: not the organization's to see
        ("other_dist_admin", "e"),
        ("other_org_admin", "e"),
    ],
)
def test_every_tenant_type_sees_location_and_partner_names(
    client,
    world,
    catalogue,
    person,
    expected,
):
    # a: the hotel and two more locations (the first by name, then how many more)
    annex = add_location(world, "Annex")
    zoo = add_location(world, "Zoo")
    for location in (annex, zoo):
        Assignment.objects.create(license=catalogue["a"], location=location)
    current.refresh([annex, zoo])  # test data past the services
    names = {license.key: name for name, license in catalogue.items()}
    rows = {names[row["key"]]: row for row in page_rows(client, getattr(world, person))}
    assert "".join(sorted(rows)) == expected
    locations = {
        "a": 'Annex <small class="more">+2 more</small>',
        "b": "Shop",  # not yet activated: the location it was made for
        "c": "Hotel",
        "d": "Shop",  # made for the hotel, assigned to the shop: where it is
        "e": "Office",
    }
    partners = {"a": "Partner", "b": "Partner", "c": "Partner", "d": "Partner"}
    partners["e"] = "Other Partner"
    organizations = {"a": "Org", "b": "—", "c": "Org", "d": "Org", "e": "Other Org"}
    for name, row in rows.items():
        assert row["Location"] == locations[name], name
        assert row["Partner"] == partners[name], name
        assert row["Organization"] == organizations[name], name


def test_the_location_column_costs_no_query_per_row(client, world):
    def count_queries() -> int:
        client.force_login(world.dist_admin)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    make_license(world, S.IN_USE)
    few = count_queries()
    for number in range(12):
        license = make_license(world, S.IN_USE)
        hall = add_location(world, f"Hall {number}")
        Assignment.objects.create(license=license, location=hall)
        current.refresh([hall])
    assert count_queries() == few
    rows = page_rows(client, world.dist_admin)
    assert len(rows) == 13
    assert sum("+1 more" in row["Location"] for row in rows) == 12


def test_names_are_escaped_in_the_page(client, world):
    Organization.objects.filter(pk=world.org.pk).update(name="<b>Org</b>")
    world.partner.name = "<i>P</i>"
    world.partner.save()
    make_license(world, S.IN_USE)
    client.force_login(world.dist_admin)
    body = client.get(LIST).content.decode()
    assert "&lt;b&gt;Org&lt;/b&gt;" in body and "<b>Org</b>" not in body
    assert "&lt;i&gt;P&lt;/i&gt;" in body and "<i>P</i>" not in body


# --- The licenses CSV ------------------------------------------------------------------


def test_the_csv_keeps_the_json_columns_then_adds_names_and_ids(world, api, catalogue):
    annex = add_location(world, "Annex")
    Assignment.objects.create(license=catalogue["a"], location=annex)
    current.refresh([annex])
    client = api(world.staff)
    response = client.get(LICENSES, {"format": "csv", "ordering": "key"})
    assert header(response) == LICENSE_JSON + LICENSE_NAMES
    rows = exported(client.get(LICENSES, {"format": "csv", "ordering": "key"}))
    expected = json_rows(client, LICENSES, {"ordering": "key"})
    assert [row["id"] for row in rows] == [str(row["id"]) for row in expected]
    # the columns of the JSON rows, cell for cell as the serializer writer wrote them
    for row, json_row in zip(rows, expected, strict=True):
        assert {key: row[key] for key in LICENSE_JSON} == as_cells(json_row)
    by_id = {int(row["id"]): row for row in rows}
    a, b, d, e = (by_id[catalogue[name].pk] for name in "abde")
    assert (a["organization"], a["organization_name"]) == (str(world.org.pk), "Org")
    assert (a["partner"], a["partner_name"]) == (str(world.partner.pk), "Partner")
    assert (a["distributor"], a["distributor_name"]) == (str(world.dist.pk), "Dist")
    assert (a["location"], a["location_name"]) == (str(world.hotel.pk), "Hotel")
    # every assigned location, by name, ids in the same order as the names
    assert a["assigned_locations"] == f"{annex.pk};{world.hotel.pk}"
    assert a["assigned_location_names"] == "Annex;Hotel"
    assert (a["modules"], a["module_names"]) == ("guest;pms", "Guest Wi-Fi;PMS")
    assert a["status_label"] == "In Use"
    # not activated: no organization, no assignment; made for the shop
    assert (b["organization"], b["organization_name"]) == ("", "")
    assert (b["assigned_locations"], b["location_name"]) == ("", "Shop")
    assert b["status_label"] == "Pending Provision"
    assert (d["location_name"], d["assigned_location_names"]) == ("Hotel", "Shop")
    assert (e["partner_name"], e["distributor_name"]) == ("Other Partner", "Other Dist")


def test_the_csv_has_the_lists_rows_filters_and_order(world, api, catalogue):
    for person in ("staff", "dist_viewer", "partner_admin", "org_viewer", "other_org_admin"):
        client = api(getattr(world, person))
        for query in (
            {},
            {"ordering": "-end_date"},
            {"ordering": "organization__name"},
            {"status": ["in_use", "access_denied"], "ordering": "start_date"},
            {"q": "shop"},
        ):
            rows = exported(client.get(LICENSES, {**query, "format": "csv"}))
            expected = [str(row["id"]) for row in json_rows(client, LICENSES, query)]
            assert [row["id"] for row in rows] == expected, (person, query)


def test_the_csv_is_answered_for_accept_text_csv_too(world, api, catalogue):
    response = api(world.dist_admin).get(LICENSES, {"status": "in_use"}, HTTP_ACCEPT="text/csv")
    rows = exported(response)
    assert [row["key"] for row in rows] == [catalogue["a"].key]
    assert 'filename="licenses.csv"' in response["Content-Disposition"]


def test_the_csv_defuses_formulas_in_every_text_cell(world, api):
    Organization.objects.filter(pk=world.org.pk).update(name='=HYPERLINK("http://x")')
    world.partner.name = "+cmd|' /C calc'!A0"
    world.partner.save()
    world.hotel.name = "@SUM(1+1)"
    world.hotel.save()
    make_license(world, S.IN_USE)
    [row] = exported(api(world.dist_admin).get(LICENSES, {"format": "csv"}))
    assert row["organization_name"] == '\'=HYPERLINK("http://x")'
    assert row["partner_name"] == "'+cmd|' /C calc'!A0"
    assert row["location_name"] == row["assigned_location_names"] == "'@SUM(1+1)"
    assert row["limit"] == "10"  # numbers stay numbers


def test_the_csv_is_one_query_streamed_in_chunks_with_each_license_once(world, api, monkeypatch):
    """Modules and assigned locations come through joins in the same query (a license
    with 2 modules at 2 locations is 4 joined rows), folded back into one CSV row each,
    whatever the chunk boundaries."""
    for number in range(10):
        license = make_license(world, S.IN_USE)
        license.modules.add("pms", "guest")
        if number % 3 == 0:
            hall = add_location(world, f"Hall {number}")
            Assignment.objects.create(license=license, location=hall)
            current.refresh([hall])
    client = api(world.dist_admin)
    whole = exported(client.get(LICENSES, {"format": "csv", "ordering": "-key"}))
    monkeypatch.setattr(lib_csv, "CSV_CHUNK", 3)
    response = client.get(LICENSES, {"format": "csv", "ordering": "-key"})
    with CaptureQueriesContext(connection) as queries:
        chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 4  # the header, then 3 + 3 + 3 + 1 licenses
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert rows == whole
    assert [row["key"] for row in rows] == sorted((row["key"] for row in rows), reverse=True)
    assert {row["modules"] for row in rows} == {"guest;pms"}
    halls = [
        row["assigned_location_names"] for row in rows if "Hall" in row["assigned_location_names"]
    ]
    assert sorted(halls) == [f"Hall {n};Hotel" for n in (0, 3, 6, 9)]
    read = [q["sql"] for q in queries if not q["sql"].startswith(("SET ", "RESET "))]
    assert len(read) == 1, read  # PostgreSQL: one DECLARE of the cursor (FETCHes unlogged)


def test_an_empty_csv_still_has_its_header(world, api, catalogue):
    response = api(world.staff).get(LICENSES, {"format": "csv", "q": "nothing-has-this"})
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == [",".join(LICENSE_JSON + LICENSE_NAMES)]


def test_a_bad_filter_on_the_csv_is_a_400_problem(world, api):
    response = api(world.staff).get(LICENSES, {"format": "csv", "end_after": "soon"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


# --- Empty dates last, both ways ------------------------------------------------------


@pytest.mark.parametrize("field", ["start_date", "end_date", "organization__name"])
@pytest.mark.parametrize("descending", [False, True])
def test_empty_values_sort_last_both_ways_in_the_api_the_csv_and_the_page(
    client,
    world,
    api,
    catalogue,
    field,
    descending,
):
    ordering = ("-" if descending else "") + field
    pending = catalogue["b"]  # no dates, no organization yet
    another = make_license(world, S.PENDING_PROVISION)  # a second one: ties by id
    api_rows = json_rows(api(world.staff), LICENSES, {"ordering": ordering})
    ids = [row["id"] for row in api_rows]
    assert ids[-2:] == sorted([pending.pk, another.pk])
    values = [License.objects.filter(pk=pk).values_list(field, flat=True).get() for pk in ids[:-2]]
    assert None not in values and values == sorted(values, reverse=descending)
    csv_rows = exported(api(world.staff).get(LICENSES, {"ordering": ordering, "format": "csv"}))
    assert [int(row["id"]) for row in csv_rows] == ids
    keys = dict(License.objects.values_list("key", "pk"))
    page = [keys[row["key"]] for row in page_rows(client, world.staff, {"ordering": ordering})]
    assert page == ids


# --- The requests CSV ------------------------------------------------------------------

REQUEST_JSON = [
    "id",
    "location",
    "partner",
    "distributor",
    "years",
    "payment",
    "aps",
    "rooms",
    "modules",
    "state",
    "reason",
    "license",
    "created",
    "decided",
    "kind",
    "add_modules",
    "remove_modules",
]


@pytest.fixture
def requests(world):
    modules = Module.objects.filter(code__in=["pms", "guest"])
    hotel = ask(world.partner_admin, world.hotel, world.dist, rooms=10, modules=modules)
    shop = ask(world.partner_admin, world.shop, world.dist, aps=5)
    license = services.approve_request(world.dist_admin, shop.pk)
    office = ask(world.other_partner_admin, world.other_office, world.other_dist, aps=4)
    return {"hotel": hotel, "shop": shop, "office": office, "license": license}


def test_the_requests_csv_adds_names_the_key_as_the_page_shows_it_and_labels(world, api, requests):
    client = api(world.partner_admin)
    response = client.get(REQUESTS, {"format": "csv", "ordering": "created"})
    rows = exported(response)
    expected = json_rows(client, REQUESTS, {"ordering": "created"})
    assert [row["id"] for row in rows] == [str(row["id"]) for row in expected]
    for row, json_row in zip(rows, expected, strict=True):
        assert {key: row[key] for key in REQUEST_JSON} == as_cells(json_row)
    hotel, shop = rows
    assert hotel["location_name"] == "Hotel" and shop["location_name"] == "Shop"
    assert (hotel["organization"], hotel["organization_name"]) == (str(world.org.pk), "Org")
    assert (hotel["partner_name"], hotel["distributor_name"]) == ("Partner", "Dist")
    assert (hotel["modules"], hotel["module_names"]) == ("guest;pms", "Guest Wi-Fi;PMS")
    assert (hotel["state_label"], shop["state_label"]) == ("Pending", "Approved")
    assert shop["license_key"] == requests["license"].key
    assert shop["license"] == str(requests["license"].pk)
    # the organization does not read a key before Send Key (as on the page)
    org_rows = exported(api(world.org_admin).get(REQUESTS, {"format": "csv"}))
    assert {row["location_name"]: row["license_key"] for row in org_rows} == {
        "Hotel": "",
        "Shop": "",
    }
    # another distributor's queue
    [office] = exported(api(world.other_dist_admin).get(REQUESTS, {"format": "csv"}))
    assert (office["location_name"], office["organization_name"]) == ("Office", "Other Org")


def test_the_requests_page_links_the_csv_of_its_filters(client, world, requests):
    client.force_login(world.dist_admin)
    response = client.get("/requests/", {"state": "approved"})
    link = response.context["csv_url"]
    assert link == "/api/v1/license-requests/?state=approved&format=csv"
    rows = exported(client.get(link))
    assert [row["id"] for row in rows] == [str(requests["shop"].pk)]
    # after an htmx swap the toolbar's link is replaced too (out of band)
    swapped = client.get(
        "/requests/", {"state": "pending"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    ).content.decode()
    assert 'id="requests-csv" hx-swap-oob="true"' in swapped
    assert "state=pending&amp;format=csv" in swapped


# --- PostgreSQL: page 1 read from an index in each order ------------------------------

SORT_INDEXES = {
    "": "license_created_idx",
    "end_date": "license_end_asc_idx",
    "-end_date": "license_end_desc_idx",
    "start_date": "license_start_asc_idx",
    "-start_date": "license_start_desc_idx",
}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes: PostgreSQL only")
@pytest.mark.parametrize("ordering", sorted(SORT_INDEXES))
def test_each_order_of_the_list_is_an_index_on_postgresql(world, api, ordering):
    """The query that picks a page's rows (``CappedPaginator``: ids in the list's order)
    walks the order's index: no Sort node, also for the empty dates last going down."""
    make_license(world, S.IN_USE)
    make_license(world, S.PENDING_PROVISION)
    with CaptureQueriesContext(connection) as queries:
        response = api(world.staff).get(LICENSES, {"ordering": ordering} if ordering else {})
    assert response.status_code == 200
    [ids] = [q["sql"] for q in queries if ' AS "pk" FROM "licenses_license"' in q["sql"]]
    with connection.cursor() as cursor:
        # a few rows here: ask whether an index gives the order (no Sort to fall back on)
        for setting in ("seqscan", "bitmapscan", "sort"):
            cursor.execute(f"SET LOCAL enable_{setting} = off")
        cursor.execute(f"EXPLAIN {ids}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert SORT_INDEXES[ordering] in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes: PostgreSQL only")
def test_one_status_by_end_date_is_an_index_both_ways_on_postgresql(world, api):
    make_license(world, S.IN_USE)
    for ordering, index in (
        # up: either (status, end_date) index serves it (a small table's planner may
        # prefer the narrower one and sort the ties by id incrementally)
        ("end_date", "license_status_end_"),
        ("-end_date", "license_status_end_desc_idx"),
    ):
        terms = ordering_terms(License.objects.all(), [ordering])
        rows = License.objects.filter(status=S.IN_USE).order_by(*terms)
        sql, params = rows.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            for setting in ("seqscan", "bitmapscan", "sort"):
                cursor.execute(f"SET LOCAL enable_{setting} = off")
            cursor.execute(f"EXPLAIN {sql} LIMIT 1001", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        # read in order from the index: no Sort of every row (an Incremental Sort of the
        # rows of one end date, for the id, is fine)
        assert index in plan and not re.search(r"^\s*(->\s*)?Sort\s+\(cost", plan, re.M), plan
