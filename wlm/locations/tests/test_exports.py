"""The locations list's CSV (docs/api.md, "CSV"): the JSON row's columns with the license
flattened, then the organization's name and the labels; the list's rows, tenancy and
order; streamed. And its empty license columns sorted last both ways (API, CSV, page)."""

import csv
import datetime as dt
import io
import re

import pytest
import time_machine

from wlm.conftest import provisioned_license
from wlm.lib import csv as lib_csv
from wlm.licenses import services
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 20, 10, 0, tzinfo=dt.UTC)
LOCATIONS = "/api/v1/locations/"
JSON_COLUMNS = [
    "id",
    "name",
    "organization",
    "sector",
    "timezone",
    "address",
    "country",
    "license_id",
    "license_key",
    "license_status",
    "license_end_date",
    "access_points",
    "rooms",
    "created",
]
NAMES = ["organization_name", "sector_label", "license_status_label"]


def exported(response) -> list[dict]:
    assert response.status_code == 200, response.content[:300]
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def json_rows(client, query) -> list[dict]:
    body = client.get(LOCATIONS, {**query, "page_size": 500}).json()
    assert not body["next"]
    return body["results"]


def flat(row: dict) -> dict:
    """A JSON row as the CSV wrote it before the names were added: the license as four
    flat columns, each cell as the serializer writer wrote it."""
    license = row.pop("license") or {}
    row.update(
        license_id=license.get("id"),
        license_key=license.get("key"),
        license_status=license.get("status"),
        license_end_date=license.get("end_date"),
    )
    return {key: lib_csv.defuse(lib_csv._cell(row[key])) for key in JSON_COLUMNS}


@pytest.fixture
def licensed(world):
    """The hotel in use until 2027-06-20, the shop pending start with no end date yet,
    the other office with a key not sent: three kinds of license columns."""
    with time_machine.travel(NOW, tick=False):
        hotel = provisioned_license(
            world, world.hotel, NOW, start_mode="fixed", fixed_start=NOW.date()
        )
        shop = provisioned_license(world, world.shop, NOW)
        terms = services.Terms(
            location=world.other_office,
            distributor=world.other_dist,
            years=1,
            payment="annual",
            aps=3,
        )
        office = services.create_license(world.other_dist_admin, terms)
    return {"hotel": hotel, "shop": shop, "office": office}


def test_the_csv_keeps_the_json_columns_then_adds_names_and_labels(world, api, licensed):
    client = api(world.staff)
    response = client.get(LOCATIONS, {"format": "csv"})
    text = b"".join(response.streaming_content).decode()
    assert next(csv.reader(io.StringIO(text))) == JSON_COLUMNS + NAMES
    rows = exported(client.get(LOCATIONS, {"format": "csv"}))
    expected = json_rows(client, {})
    assert [row["id"] for row in rows] == [row["id"] for row in expected]
    for row, json_row in zip(rows, expected, strict=True):
        assert {key: row[key] for key in JSON_COLUMNS} == flat(json_row)
    by_name = {row["name"]: row for row in rows}
    hotel, shop, office = by_name["Hotel"], by_name["Shop"], by_name["Office"]
    assert (hotel["organization"], hotel["organization_name"]) == (str(world.org.pk), "Org")
    assert office["organization_name"] == "Other Org"
    assert (hotel["sector_label"], shop["sector_label"]) == ("Hospitality", "Retail")
    assert (hotel["license_id"], hotel["license_key"]) == (
        str(licensed["hotel"].pk),
        licensed["hotel"].key,
    )
    assert (hotel["license_status"], hotel["license_status_label"]) == ("in_use", "In Use")
    assert (shop["license_status_label"], shop["license_end_date"]) == ("Pending Start", "")
    assert office["license_status_label"] == "Pending Provision"
    assert hotel["access_points"] == "1" and hotel["rooms"] == "1"


def test_the_csv_masks_another_tenants_license_and_keeps_the_lists_rows(world, api, licensed):
    for person in ("staff", "dist_viewer", "partner_admin", "org_viewer", "other_org_admin"):
        client = api(getattr(world, person))
        for query in ({}, {"ordering": "-license_end"}, {"license_status": ["in_use", "none"]}):
            rows = exported(client.get(LOCATIONS, {**query, "format": "csv"}))
            expected = json_rows(client, query)
            assert [row["id"] for row in rows] == [row["id"] for row in expected], person
            for row, json_row in zip(rows, expected, strict=True):
                assert {key: row[key] for key in JSON_COLUMNS} == flat(json_row), person
    # the other organization does not see its key before Send Key: no license columns
    [office] = exported(api(world.other_org_admin).get(LOCATIONS, {"format": "csv"}))
    assert office["license_id"] == office["license_key"] == office["license_status_label"] == ""


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("field", ["license_end", "license_status"])
def test_locations_without_a_license_value_sort_last_both_ways(
    client, world, api, licensed, field, descending
):
    for number in range(2):  # more locations without a license: ties by id
        Location.objects.create(
            organization=world.org,
            name=f"Kiosk {number}",
            sector="retail",
            timezone="Europe/Madrid",
            country="ES",
        )
    ordering = ("-" if descending else "") + field
    rows = json_rows(api(world.staff), {"ordering": ordering})
    value = {
        "license_end": lambda row: (row["license"] or {}).get("end_date"),
        "license_status": lambda row: (row["license"] or {}).get("status"),
    }[field]
    values = [value(row) for row in rows]
    empty = values.index(None)
    assert all(v is None for v in values[empty:]) and len(values) - empty >= 2
    assert values[:empty] == sorted(values[:empty], reverse=descending)
    tail = [row["id"] for row in rows[empty:]]
    assert tail == sorted(tail, key=lambda pk: pk.replace("-", ""))  # ties by id
    ids = [row["id"] for row in rows]
    csv_rows = exported(api(world.staff).get(LOCATIONS, {"ordering": ordering, "format": "csv"}))
    assert [row["id"] for row in csv_rows] == ids
    client.force_login(world.staff)
    page = client.get("/locations/", {"ordering": ordering}).content.decode()
    assert re.findall(r'<tr data-id="([0-9a-f-]{36})"', page) == ids
