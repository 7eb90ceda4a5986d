"""Send Key: provisioning a license on a location of the right organization."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from wlm.lib.problems import Conflict
from wlm.licenses import lifecycle
from wlm.licenses.models import Assignment, LicenseEvent, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Room

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_send_key_provisions_and_assigns(world):
    license = make_license(world, LicenseStatus.PENDING_PROVISION)
    typed = license.key.lower().replace("-", " ")
    provisioned = lifecycle.provision(world.org_admin, world.hotel, typed)
    assert provisioned.status == LicenseStatus.PENDING_START
    assert provisioned.organization == world.org
    assert provisioned.provisioned == NOW
    assert provisioned.timezone == "Europe/Madrid"
    assert list(Assignment.objects.filter(license=license).values_list("location", flat=True)) == [
        world.hotel.pk
    ]
    event = LicenseEvent.objects.get(license=license)
    assert (event.kind, event.actor, event.before["status"], event.after["status"]) == (
        "provisioned",
        world.org_admin,
        "pending_provision",
        "pending_start",
    )


def test_unknown_key_and_other_organizations_key_look_the_same(world):
    license = make_license(world, LicenseStatus.PENDING_PROVISION)
    with pytest.raises(lifecycle.UnknownKey):
        lifecycle.provision(world.other_org_admin, world.other_office, license.key)
    with pytest.raises(lifecycle.UnknownKey):
        lifecycle.provision(world.org_admin, world.hotel, "00000-00000-00000-00000-00000")
    with pytest.raises(lifecycle.UnknownKey):
        lifecycle.provision(world.org_admin, world.hotel, "not a key")
    license.refresh_from_db()
    assert license.status == LicenseStatus.PENDING_PROVISION


@pytest.mark.parametrize(
    "status",
    [LicenseStatus.PENDING_START, LicenseStatus.IN_USE, LicenseStatus.CONTRACT_FINALIZED],
)
def test_used_or_finished_key_is_conflict(world, status):
    license = make_license(world, status)
    with pytest.raises(Conflict):
        lifecycle.provision(world.org_admin, world.shop, license.key)


def test_viewer_cannot_send_key(world):
    license = make_license(world, LicenseStatus.PENDING_PROVISION)
    with pytest.raises(PermissionDenied):
        lifecycle.provision(world.org_viewer, world.hotel, license.key)
    assert not Assignment.objects.filter(license=license).exists()


def test_send_key_refused_when_location_has_more_elements_than_allowed(world):
    license = make_license(world, LicenseStatus.PENDING_PROVISION)  # rooms, limit 10
    Room.objects.bulk_create(Room(location=world.hotel, number=f"2{i:02d}") for i in range(10))
    with pytest.raises(Conflict, match="allows 10 rooms; 11 would be in use"):
        lifecycle.provision(world.org_admin, world.hotel, license.key)
    license.refresh_from_db()
    assert license.status == LicenseStatus.PENDING_PROVISION
    assert not LicenseEvent.objects.filter(license=license).exists()


def test_location_holds_one_active_license(world):
    make_license(world, LicenseStatus.IN_USE)  # assigned to the hotel
    second = make_license(world, LicenseStatus.PENDING_PROVISION)
    with pytest.raises(Conflict, match="already holds an active license"):
        lifecycle.provision(world.org_admin, world.hotel, second.key)
