"""The location's license in ``/locations/`` rows, its filters and its CSV columns."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wlm.licenses import current, lifecycle
from wlm.licenses.entitlement import entitlement_for
from wlm.licenses.keys import generate_key
from wlm.licenses.models import Assignment, CurrentLicense, License, LicenseStatus
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db

S = LicenseStatus
URL = "/api/v1/locations/"
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_license(
    world,
    location,
    status,
    *,
    end=None,
    assigned_at=None,
    created=None,
    distributor=None,
    partner=None,
):
    """A license of ``location``'s organization in ``status`` (test data only).

    Provisioned licenses are assigned to ``location`` at ``assigned_at``; a
    ``pending_provision`` one is only intended for it.
    """
    organization = location.organization
    other = organization == world.other_org
    provisioned = status != S.PENDING_PROVISION
    license = License.objects.create(
        key=generate_key(),
        location=location,
        distributor=distributor or (world.other_dist if other else world.dist),
        partner=partner or (world.other_partner if other else world.partner),
        years=1,
        payment="annual",
        license_type="aps",
        limit=10,
        status=status,
        status_before_denial=S.IN_USE if status == S.ACCESS_DENIED else "",
        timezone=location.timezone,
        organization=organization if provisioned else None,
        provisioned=T0 if provisioned else None,
        start_date=end.replace(year=end.year - 1) if end else None,
        end_date=end,
        created=created or T0,
    )
    if provisioned:
        Assignment.objects.create(license=license, location=location, created=assigned_at or T0)
    current.refresh([location])  # what the services do after such a change
    return license


def rows(client, query=""):
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return {row["name"]: row["license"] for row in response.json()["results"]}


def names(client, query):
    return set(rows(client, query))


def shown(license):
    return {
        "id": license.pk,
        "key": license.key,
        "status": license.status,
        "end_date": license.end_date.isoformat() if license.end_date else None,
    }


def test_location_without_license_is_null(world, api):
    assert rows(api(world.org_admin)) == {"Hotel": None, "Shop": None}
    row = api(world.org_admin).get(f"{URL}{world.shop.pk}/").json()
    assert row["license"] is None


def test_new_location_has_no_license(world, api):
    response = api(world.org_admin).post(
        URL,
        {
            "name": "Cafe",
            "organization": world.org.pk,
            "sector": "retail",
            "timezone": "Europe/Madrid",
            "country": "ES",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["license"] is None


def test_pending_provision_intended_license_shows(world, api):
    make_license(world, world.shop, S.PENDING_PROVISION, created=T0)
    latest = make_license(world, world.shop, S.PENDING_PROVISION, created=T0 + dt.timedelta(1))
    for person in ("staff", "dist_admin", "partner_admin"):
        assert rows(api(getattr(world, person)))["Shop"] == shown(latest), person
    detail = api(world.partner_admin).get(f"{URL}{world.shop.pk}/").json()
    assert detail["license"] == shown(latest)
    # Not the organization's license until Send Key: its key is not shown to it (as in
    # GET /licenses/, and the entitlement, which names no key for pending_provision).
    assert rows(api(world.org_admin))["Shop"] is None


def test_the_status_filter_finds_the_license_its_tenants_see(world, api):
    """The filter passes the license's tenancy door on the stored row's copies of its
    tenants: the unsent key's location is found by its distributor and partner, by the
    organization only once Send Key made the license its own, by no other tenant."""
    license = make_license(world, world.shop, S.PENDING_PROVISION, created=T0)
    query = "license_status=pending_provision"
    for person in ("staff", "dist_admin", "partner_admin"):
        assert names(api(getattr(world, person)), query) == {"Shop"}, person
    for person in ("org_admin", "other_dist_admin", "other_partner_admin"):
        assert names(api(getattr(world, person)), query) == set(), person
    lifecycle.provision(world.org_admin, world.shop, license.key)
    query = "license_status=pending_start"
    for person in ("staff", "dist_admin", "partner_admin", "org_admin"):
        assert names(api(getattr(world, person)), query) == {"Shop"}, person
    assert names(api(world.other_org_admin), query) == set()
    stored = CurrentLicense.objects.get(location=world.shop)
    assert (stored.distributor, stored.partner, stored.organization) == (
        world.dist,
        world.partner,
        world.org,
    )


def test_assigned_license_wins_over_pending_provision(world, api):
    finalized = make_license(world, world.hotel, S.CONTRACT_FINALIZED, end=dt.date(2026, 5, 1))
    make_license(world, world.hotel, S.PENDING_PROVISION, created=T0 + dt.timedelta(30))
    assert rows(api(world.org_admin))["Hotel"] == shown(finalized)


@pytest.mark.parametrize("active_status", [S.PENDING_START, S.IN_USE, S.ACCESS_DENIED])
@pytest.mark.parametrize("active_first", [True, False], ids=["active-older", "active-newer"])
def test_assigned_active_license_wins_over_finalized(world, api, active_status, active_first):
    early, late = T0, T0 + dt.timedelta(days=10)
    finalized = make_license(
        world,
        world.hotel,
        S.CONTRACT_FINALIZED,
        end=dt.date(2027, 1, 1),
        assigned_at=late if active_first else early,
    )
    end = None if active_status == S.PENDING_START else dt.date(2028, 2, 1)
    active = make_license(
        world, world.hotel, active_status, end=end, assigned_at=early if active_first else late
    )
    assert rows(api(world.org_admin))["Hotel"] == shown(active)
    assert finalized.pk != active.pk
    # The same choice as the data plane's entitlement.
    assert entitlement_for(world.hotel, NOW).license == active.key


def test_latest_finalized_assignment_shows_when_nothing_active(world, api):
    make_license(world, world.hotel, S.CONTRACT_FINALIZED, end=dt.date(2026, 6, 1))
    latest = make_license(
        world,
        world.hotel,
        S.CONTRACT_FINALIZED,
        end=dt.date(2026, 3, 1),
        assigned_at=T0 + dt.timedelta(days=1),
    )
    assert rows(api(world.org_admin))["Hotel"] == shown(latest)
    assert entitlement_for(world.hotel, NOW).license == latest.key


@pytest.fixture
def licensed(world):
    """Hotel in use until 2028-01-15, Shop finalized on 2027-03-01, Office none."""
    return {
        "Hotel": make_license(world, world.hotel, S.IN_USE, end=dt.date(2028, 1, 15)),
        "Shop": make_license(world, world.shop, S.CONTRACT_FINALIZED, end=dt.date(2027, 3, 1)),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("license_status=in_use", {"Hotel"}),
        ("license_status=in_use&license_status=contract_finalized", {"Hotel", "Shop"}),
        ("license_status=pending_start", set()),
        ("license_status=none", {"Office"}),
        ("license_status=none&license_status=contract_finalized", {"Office", "Shop"}),
        ("license_end_after=2028-01-15", {"Hotel"}),
        ("license_end_after=2028-01-16", set()),
        ("license_end_before=2027-03-01", {"Shop"}),
        ("license_end_before=2027-02-28", set()),
        ("license_end_after=2027-03-01&license_end_before=2028-01-15", {"Hotel", "Shop"}),
        ("license_end_after=2027-03-02&license_end_before=2028-01-14", set()),
        ("license_status=in_use&license_end_before=2027-12-31", set()),
        ("license_status=in_use&sector=hospitality&q=calle", {"Hotel"}),
    ],
)
def test_license_filters(world, api, licensed, query, expected):
    assert names(api(world.staff), query) == expected


def test_ordering_by_license(world, api, licensed):
    client = api(world.staff)
    query = "license_status=in_use&license_status=contract_finalized&ordering="
    assert list(rows(client, query + "license_end")) == ["Shop", "Hotel"]
    assert list(rows(client, query + "-license_end")) == ["Hotel", "Shop"]
    assert list(rows(client, query + "-license_status")) == ["Hotel", "Shop"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("license_status=bogus", "license_status"),
        ("license_status=in_use&license_status=bogus", "license_status"),
        ("license_end_after=2027-13-01", "license_end_after"),
        ("license_end_before=yesterday", "license_end_before"),
    ],
)
def test_bad_license_filters_are_400(world, api, query, field):
    response = api(world.staff).get(f"{URL}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]


def test_tenant_never_sees_another_tenants_license(world, api, licensed):
    office = make_license(world, world.other_office, S.IN_USE, end=dt.date(2027, 9, 1))
    response = api(world.other_org_admin).get(URL)
    assert {row["name"]: row["license"] for row in response.json()["results"]} == {
        "Office": shown(office)
    }
    for license in licensed.values():
        assert license.key not in response.content.decode()
    assert rows(api(world.org_admin)) == {
        "Hotel": shown(licensed["Hotel"]),
        "Shop": shown(licensed["Shop"]),
    }
    # Filters do not reveal it either.
    assert names(api(world.other_org_admin), "license_status=contract_finalized") == set()


def test_license_of_another_distributor_is_masked(world, api):
    """The partner also works with ``other_dist``, which licensed the hotel: ``dist``
    sees the hotel (a customer of its partner) but not that license."""
    world.partner.distributors.add(world.other_dist)
    license = make_license(
        world, world.hotel, S.IN_USE, end=dt.date(2028, 1, 15), distributor=world.other_dist
    )
    assert rows(api(world.dist_admin))["Hotel"] is None
    assert names(api(world.dist_admin), "license_status=in_use") == set()
    assert names(api(world.dist_admin), "license_end_after=2020-01-01") == set()
    assert names(api(world.dist_admin), "license_status=none") == {"Hotel", "Shop"}
    assert rows(api(world.other_dist_admin))["Hotel"] == shown(license)
    assert rows(api(world.org_admin))["Hotel"] == shown(license)


def test_list_query_count_is_constant(world, api, licensed, django_assert_max_num_queries):
    client = api(world.staff)
    client.get(URL)  # warm up: token and membership caches, content types
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(URL).json()["results"]) == 3
    for number in range(8):
        location = Location.objects.create(
            organization=world.org,
            name=f"Kiosk {number}",
            sector="retail",
            timezone="Europe/Madrid",
            country="ES",
        )
        make_license(world, location, S.IN_USE, end=dt.date(2028, 1, number + 1))
        make_license(world, location, S.CONTRACT_FINALIZED, end=dt.date(2027, 1, number + 1))
        make_license(world, location, S.PENDING_PROVISION)
    with django_assert_max_num_queries(len(few)):
        response = client.get(URL)
    results = response.json()["results"]
    assert len(results) == 11
    assert all(row["license"] for row in results if row["name"].startswith("Kiosk"))


def test_csv_export_has_license_columns(world, api, licensed):
    response = api(world.staff).get(f"{URL}?format=csv&ordering=name")
    assert response.status_code == 200
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert "license" not in table[0]
    by_name = {row["name"]: row for row in table}
    hotel = licensed["Hotel"]
    assert {key: by_name["Hotel"][key] for key in by_name["Hotel"] if "license" in key} == {
        "license_id": str(hotel.pk),
        "license_key": hotel.key,
        "license_status": "in_use",
        "license_end_date": "2028-01-15",
        "license_status_label": "In Use",
    }
    office = by_name["Office"]
    assert [office[key] for key in office if "license" in key] == ["", "", "", "", ""]


def test_csv_export_filtered_by_license(world, api, licensed):
    response = api(world.staff).get(f"{URL}?format=csv&license_status=none")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["name"] for row in table] == ["Office"]
    empty = api(world.staff).get(f"{URL}?format=csv&license_status=pending_start")
    header = b"".join(empty.streaming_content).decode().strip().split(",")
    assert header[7:11] == ["license_id", "license_key", "license_status", "license_end_date"]


USERS = [
    "staff",
    "staff_viewer",
    "gateway",
    "dist_admin",
    "other_dist_admin",
    "partner_admin",
    "other_partner_admin",
    "org_admin",
    "other_org_admin",
]


@pytest.mark.parametrize("username", USERS)
def test_the_lists_mask_is_visible_to(world, username):
    """``visible_through`` (the list's one join) shows a location's license exactly when
    ``visible_to`` (the door of the licenses' own list) would show that license."""
    make_license(world, world.hotel, S.IN_USE, end=dt.date(2028, 1, 15))
    make_license(world, world.shop, S.PENDING_PROVISION)
    make_license(world, world.other_office, S.ACCESS_DENIED, end=dt.date(2027, 6, 1))
    user = getattr(world, username)
    visible = set(License.objects.visible_to(user).values_list("pk", flat=True))
    expected = {
        location.pk
        for location in Location.objects.select_related("current")
        if location.current.license_id in visible
    }
    masked = Location.objects.filter(License.objects.visible_through("current__license", user))
    assert set(masked.values_list("pk", flat=True)) == expected
    assert expected or username in ("gateway",)  # every other user sees some license


def copies(*locations) -> list[tuple]:
    rows = CurrentLicense.objects.filter(location__in=locations).order_by("location__name")
    return list(rows.values_list("license_id", "status", "end_date"))


def test_the_stored_copies_of_status_and_end_date_follow_every_change(world):
    """``CurrentLicense`` copies its license's status and end date (the list sorts and
    filters by them from an index): each lifecycle change of either rewrites them, at
    every location whose license it is, in the change's transaction."""
    license = make_license(world, world.hotel, S.PENDING_START)
    Assignment.objects.create(license=license, location=world.shop, created=T0)
    current.refresh([world.shop])  # a second location, past the services
    assert copies(world.hotel, world.shop) == [(license.pk, S.PENDING_START, None)] * 2
    lifecycle.start(license.pk, dt.date(2026, 11, 1))  # a status and an end date
    end = dt.date(2027, 11, 1)
    assert copies(world.hotel, world.shop) == [(license.pk, S.IN_USE, end)] * 2
    lifecycle.deny(world.dist_admin, license.pk, "unpaid invoice")  # a status
    assert copies(world.hotel, world.shop) == [(license.pk, S.ACCESS_DENIED, end)] * 2
    lifecycle.renew(world.dist_admin, license.pk, 2)  # an end date
    license.refresh_from_db()
    assert license.end_date > end
    assert copies(world.hotel, world.shop) == [(license.pk, S.ACCESS_DENIED, license.end_date)] * 2
    assert current.stale() == []
    # a write past the services is caught by the check the tests run after each test
    License.objects.filter(pk=license.pk).update(status=S.IN_USE)
    assert {row[0] for row in current.stale()} == {world.hotel.pk, world.shop.pk}
    current.refresh([world.hotel, world.shop])  # and put right by a refresh
    assert current.stale() == []
