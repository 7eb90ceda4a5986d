"""Locations, access points and rooms through the API."""

import pytest

from wlm.locations.models import AccessPoint, Location, Room

pytestmark = pytest.mark.django_db

NEW = {
    "name": "Cafe",
    "sector": "retail",
    "timezone": "Europe/Madrid",
    "address": "Gran Via 1",
    "country": "ES",
}


def test_locations_listed_by_tenant(world, api):
    def names(user):
        response = api(user).get("/api/v1/locations/")
        assert response.status_code == 200
        return {row["name"] for row in response.json()["results"]}

    assert names(world.staff) == {"Hotel", "Shop", "Office"}
    assert names(world.dist_admin) == {"Hotel", "Shop"}
    assert names(world.partner_viewer) == {"Hotel", "Shop"}
    assert names(world.org_viewer) == {"Hotel", "Shop"}
    assert names(world.other_org_admin) == {"Office"}


def test_location_row_counts_elements(world, api):
    row = api(world.org_admin).get(f"/api/v1/locations/{world.hotel.pk}/").json()
    assert row["access_points"] == 1
    assert row["rooms"] == 1
    assert row["organization"] == world.org.pk
    assert row["timezone"] == "Europe/Madrid"
    assert row["country"] == "ES"


def test_other_organizations_location_is_not_found(world, api):
    for path in ["", "access-points/", "rooms/"]:
        response = api(world.org_admin).get(f"/api/v1/locations/{world.other_office.pk}/{path}")
        assert response.status_code == 404, path


@pytest.mark.parametrize("person", ["org_admin", "partner_admin", "staff"])
def test_admins_create_location(world, api, person):
    response = api(getattr(world, person)).post(
        "/api/v1/locations/", {**NEW, "organization": world.org.pk}
    )
    assert response.status_code == 201, response.content
    assert Location.objects.get(name="Cafe").organization == world.org


@pytest.mark.parametrize(
    ("person", "status"),
    [("org_viewer", 403), ("dist_admin", 403), ("other_org_admin", 400), ("gateway", 403)],
)
def test_others_cannot_create_location(world, api, person, status):
    response = api(getattr(world, person)).post(
        "/api/v1/locations/", {**NEW, "organization": world.org.pk}
    )
    assert response.status_code == status
    assert not Location.objects.filter(name="Cafe").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("timezone", "utc+2"),
        ("country", "XX"),
        ("sector", "casino"),
        ("name", ""),
    ],
)
def test_location_fields_validated(world, api, field, value):
    response = api(world.org_admin).post(
        "/api/v1/locations/", {**NEW, "organization": world.org.pk, field: value}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not Location.objects.filter(organization=world.org, name__in=["Cafe", ""]).exists()


def test_duplicate_location_name_is_conflict(world, api):
    response = api(world.org_admin).post(
        "/api/v1/locations/", {**NEW, "name": "Hotel", "organization": world.org.pk}
    )
    assert response.status_code == 409
    assert Location.objects.filter(name="Hotel").count() == 1


def test_location_never_moves_to_another_organization(world, api):
    response = api(world.staff).patch(
        f"/api/v1/locations/{world.shop.pk}/", {"organization": world.other_org.pk}
    )
    assert response.status_code == 400
    assert "organization" in response.json()["errors"]
    world.shop.refresh_from_db()
    assert world.shop.organization == world.org


def test_location_update(world, api):
    response = api(world.org_admin).patch(
        f"/api/v1/locations/{world.shop.pk}/", {"name": "Shop 2", "timezone": "Asia/Tokyo"}
    )
    assert response.status_code == 200, response.content
    world.shop.refresh_from_db()
    assert (world.shop.name, world.shop.timezone) == ("Shop 2", "Asia/Tokyo")


def test_hotel_with_rooms_cannot_leave_hospitality(world, api):
    response = api(world.org_admin).patch(
        f"/api/v1/locations/{world.hotel.pk}/", {"sector": "retail"}
    )
    assert response.status_code == 409
    world.hotel.refresh_from_db()
    assert world.hotel.sector == "hospitality"


def test_locations_filtered_and_searched(world, api):
    client = api(world.staff)
    rows = client.get("/api/v1/locations/?sector=retail&sector=office").json()["results"]
    assert {row["name"] for row in rows} == {"Shop", "Office"}
    rows = client.get(f"/api/v1/locations/?organization={world.other_org.pk}").json()["results"]
    assert [row["name"] for row in rows] == ["Office"]
    rows = client.get("/api/v1/locations/?q=queen").json()["results"]
    assert [row["name"] for row in rows] == ["Shop"]
    rows = client.get("/api/v1/locations/?ordering=-name").json()["results"]
    assert [row["name"] for row in rows] == ["Shop", "Office", "Hotel"]


# --- access points -----------------------------------------------------------


@pytest.mark.parametrize(
    "mac", ["aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF"]
)
def test_access_point_mac_normalised(world, api, mac):
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.shop.pk}/access-points/", {"mac": mac, "name": "Door"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["mac"] == "AA:BB:CC:DD:EE:FF"


@pytest.mark.parametrize(
    "mac", ["", "aa:bb:cc:dd:ee", "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff:00", "aa:bb-cc:dd:ee:ff"]
)
def test_access_point_bad_mac_refused(world, api, mac):
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.shop.pk}/access-points/", {"mac": mac}
    )
    assert response.status_code == 400
    assert "mac" in response.json()["errors"]
    assert not AccessPoint.objects.filter(location=world.shop).exists()


def test_access_point_unique_on_the_platform(world, api):
    client = api(world.org_admin)
    url = f"/api/v1/locations/{world.hotel.pk}/access-points/"
    response = client.post(url, {"mac": "02-00-00-00-00-01"})
    assert response.status_code == 409
    assert "02:00:00:00:00:01" in response.json()["detail"]
    # an access point serves one location (RADIUS finds it by its MAC): not even at another
    # location of the same organization, nor of another tenant, which is not named
    for location in (world.shop, world.other_office):
        admin = world.org_admin if location == world.shop else world.other_org_admin
        response = api(admin).post(
            f"/api/v1/locations/{location.pk}/access-points/", {"mac": "02:00:00:00:00:01"}
        )
        assert response.status_code == 409
        assert "another location" in response.json()["detail"]
        assert world.hotel.name not in response.content.decode()
    assert AccessPoint.objects.filter(mac="02:00:00:00:00:01").count() == 1


def test_access_point_delete(world, api):
    ap = AccessPoint.objects.get(location=world.hotel)
    url = f"/api/v1/locations/{world.hotel.pk}/access-points/{ap.pk}/"
    assert api(world.org_viewer).delete(url).status_code == 403
    assert api(world.other_org_admin).delete(url).status_code == 404
    assert api(world.org_admin).delete(url).status_code == 204
    assert not AccessPoint.objects.filter(pk=ap.pk).exists()


def test_access_point_of_other_location_not_reachable_through_this_one(world, api):
    other_ap = AccessPoint.objects.get(location=world.other_office)
    response = api(world.staff).delete(
        f"/api/v1/locations/{world.hotel.pk}/access-points/{other_ap.pk}/"
    )
    assert response.status_code == 404
    assert AccessPoint.objects.filter(pk=other_ap.pk).exists()


# --- rooms ---------------------------------------------------------------------


def test_rooms_only_at_hospitality_locations(world, api):
    client = api(world.org_admin)
    assert (
        client.post(f"/api/v1/locations/{world.hotel.pk}/rooms/", {"number": "102"}).status_code
        == 201
    )
    response = client.post(f"/api/v1/locations/{world.shop.pk}/rooms/", {"number": "1"})
    assert response.status_code == 409
    assert not Room.objects.filter(location=world.shop).exists()


def test_room_unique_per_location(world, api):
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/rooms/", {"number": "101"}
    )
    assert response.status_code == 409
    assert Room.objects.filter(location=world.hotel).count() == 1


def test_rooms_listed_and_deleted(world, api):
    url = f"/api/v1/locations/{world.hotel.pk}/rooms/"
    rows = api(world.dist_viewer).get(url).json()["results"]
    assert [row["number"] for row in rows] == ["101"]
    response = api(world.partner_admin).delete(f"{url}{rows[0]['id']}/")
    assert response.status_code == 204
    assert not Room.objects.filter(location=world.hotel).exists()


def test_locations_csv_export_has_all_filtered_rows(world, api):
    response = api(world.staff).get(
        "/api/v1/locations/?format=csv&page_size=1&sector=retail&sector=hospitality&ordering=name"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,name,organization,sector,timezone")
    assert [line.split(",")[1] for line in lines[1:]] == ["Hotel", "Shop"]
