"""The transition table is the truth: ``apply_change`` takes the status after an action
from ``lifecycle.TRANSITIONS``, never from its caller."""

import datetime as dt

import pytest
import time_machine
from django.db import transaction

from wlm.conftest import provisioned_license
from wlm.licenses import lifecycle
from wlm.licenses.models import LicenseEvent, LicenseStatus

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)


def apply(license, action, user, **changes):
    with transaction.atomic():
        return lifecycle.apply_change(lifecycle.lock(license.pk), action, user, **changes)


@time_machine.travel(NOW, tick=False)
def test_apply_change_moves_to_the_status_the_table_names(world):
    license = provisioned_license(world, world.hotel, NOW)
    assert license.status == S.PENDING_START
    apply(license, "deny", world.dist_admin, status_before_denial=license.status)
    license.refresh_from_db()
    assert license.status == lifecycle.TRANSITIONS["deny"].target == S.ACCESS_DENIED
    event = LicenseEvent.objects.filter(license=license).latest("pk")
    assert event.before["status"] == S.PENDING_START
    assert event.after["status"] == S.ACCESS_DENIED


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("status", [S.IN_USE, S.ACCESS_DENIED])
def test_apply_change_refuses_a_status_from_its_caller(world, status):
    license = provisioned_license(world, world.hotel, NOW)
    events = LicenseEvent.objects.filter(license=license).count()
    with pytest.raises(TypeError, match="table"):
        apply(license, "deny", world.dist_admin, status=status)
    license.refresh_from_db()
    assert license.status == S.PENDING_START
    assert LicenseEvent.objects.filter(license=license).count() == events


@time_machine.travel(NOW, tick=False)
def test_actions_that_keep_the_status_keep_it(world):
    license = provisioned_license(world, world.hotel, NOW)
    apply(license, "upgrade", world.dist_admin, limit=license.limit + 1)
    license.refresh_from_db()
    assert license.status == S.PENDING_START
    assert "status" not in LicenseEvent.objects.filter(license=license).latest("pk").after


@pytest.mark.parametrize(
    ("before_denial", "ended", "restored"),
    [
        (S.PENDING_START, False, S.PENDING_START),
        (S.IN_USE, False, S.IN_USE),
        ("", False, S.PENDING_START),
        (S.IN_USE, True, S.CONTRACT_FINALIZED),
    ],
)
def test_restore_target_is_the_status_before_the_denial(world, before_denial, ended, restored):
    license = provisioned_license(world, world.hotel, NOW)
    license.status = S.ACCESS_DENIED
    license.status_before_denial = before_denial
    license.end_date = dt.date(2027, 3, 1) if ended else dt.date(2028, 3, 1)
    assert lifecycle.target_status(license, "restore", NOW) == restored


@pytest.mark.parametrize(
    ("status", "ended", "renewed"),
    [
        (S.IN_USE, False, S.IN_USE),
        (S.ACCESS_DENIED, False, S.ACCESS_DENIED),
        (S.ACCESS_DENIED, True, S.ACCESS_DENIED),
        (S.CONTRACT_FINALIZED, True, S.IN_USE),
    ],
)
def test_renew_target_is_in_use_again_and_a_denial_stays(world, status, ended, renewed):
    license = provisioned_license(world, world.hotel, NOW)
    license.status = status
    license.end_date = dt.date(2027, 3, 1) if ended else dt.date(2028, 3, 1)
    assert lifecycle.target_status(license, "renew", NOW) == renewed
