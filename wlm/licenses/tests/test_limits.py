"""Limits: a license's access points (or rooms) over all its locations."""

import pytest

from wlm.licenses import current
from wlm.licenses.models import Assignment, License, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint, Room

pytestmark = pytest.mark.django_db


def rooms_url(world):
    return f"/api/v1/locations/{world.hotel.pk}/rooms/"


def test_room_added_up_to_the_limit_then_409(world, api):
    make_license(world, LicenseStatus.IN_USE)  # rooms, limit 10; the hotel has 1 room
    client = api(world.org_admin)
    for number in range(2, 11):
        assert client.post(rooms_url(world), {"number": str(number)}).status_code == 201
    response = client.post(rooms_url(world), {"number": "11"})
    assert response.status_code == 409
    assert "allows 10 rooms; 11 would be in use" in response.json()["detail"]
    assert Room.objects.filter(location=world.hotel).count() == 10


def test_limit_counts_every_assigned_location(world, api):
    license = make_license(world, LicenseStatus.IN_USE)
    License.objects.filter(pk=license.pk).update(license_type="aps", limit=2)
    Assignment.objects.create(license=license, location=world.shop)
    current.refresh([world.shop])
    client = api(world.org_admin)
    # the hotel has 1 access point already: one more fits, at either location
    assert (
        client.post(
            f"/api/v1/locations/{world.shop.pk}/access-points/", {"mac": "aa:aa:aa:aa:aa:01"}
        ).status_code
        == 201
    )
    response = client.post(
        f"/api/v1/locations/{world.hotel.pk}/access-points/", {"mac": "aa:aa:aa:aa:aa:02"}
    )
    assert response.status_code == 409
    assert AccessPoint.objects.filter(location__in=[world.hotel, world.shop]).count() == 2


def test_rooms_license_does_not_limit_access_points(world, api):
    make_license(world, LicenseStatus.IN_USE)
    License.objects.update(limit=1)
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/access-points/", {"mac": "aa:aa:aa:aa:aa:03"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize("status", [LicenseStatus.CONTRACT_FINALIZED])
def test_finished_license_limits_nothing(world, api, status):
    make_license(world, status)
    License.objects.update(limit=1)
    response = api(world.org_admin).post(rooms_url(world), {"number": "202"})
    assert response.status_code == 201


@pytest.mark.parametrize("status", [LicenseStatus.PENDING_START, LicenseStatus.ACCESS_DENIED])
def test_active_license_limits_whatever_its_status(world, api, status):
    make_license(
        world,
        status,
        before_denial=LicenseStatus.IN_USE if status == LicenseStatus.ACCESS_DENIED else "",
    )
    License.objects.update(limit=1)
    response = api(world.org_admin).post(rooms_url(world), {"number": "202"})
    assert response.status_code == 409
