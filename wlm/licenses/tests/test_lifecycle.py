"""The lifecycle table of DESIGN §4: every action from every status, by every actor."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from wlm.lib.problems import Conflict
from wlm.licenses import current, lifecycle
from wlm.licenses.keys import generate_key
from wlm.licenses.models import Assignment, CurrentLicense, License, LicenseEvent, LicenseStatus

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
ALL = list(S.values)


def make_license(world, status, *, start=dt.date(2026, 1, 15), years=2, before_denial=""):
    """A license of ``world.dist`` for ``world.hotel`` in ``status`` (test data only)."""
    provisioned = status != S.PENDING_PROVISION
    started = status in (S.IN_USE, S.CONTRACT_FINALIZED) or before_denial == S.IN_USE
    license = License.objects.create(
        key=generate_key(),
        location=world.hotel,
        distributor=world.dist,
        partner=world.partner,
        years=years,
        payment="annual",
        license_type="rooms",
        limit=10,
        status=status,
        status_before_denial=before_denial,
        timezone=world.hotel.timezone,
        organization=world.org if provisioned else None,
        provisioned=NOW - dt.timedelta(days=400) if provisioned else None,
        start_date=start if started else None,
        end_date=start.replace(year=start.year + years) if started else None,
    )
    if provisioned:
        Assignment.objects.create(license=license, location=world.hotel)
    current.refresh([world.hotel])  # what the services do after such a change
    return license


ACTIONS = {
    "deny": lambda user, lic: lifecycle.deny(user, lic.pk, "unpaid invoice"),
    "restore": lambda user, lic: lifecycle.restore(user, lic.pk, "paid"),
    "cancel": lambda user, lic: lifecycle.cancel(user, lic.pk, "customer left"),
    "renew": lambda user, lic: lifecycle.renew(user, lic.pk, 1),
}
ALLOWED_FROM = {
    "deny": {S.PENDING_START, S.IN_USE},
    "restore": {S.ACCESS_DENIED},
    "cancel": {S.PENDING_PROVISION},
    "renew": {S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED},
}


@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("action", list(ACTIONS))
@time_machine.travel(NOW, tick=False)
def test_distributor_actions_from_every_status(world, action, status):
    before_denial = S.IN_USE if status == S.ACCESS_DENIED else ""
    license = make_license(world, status, before_denial=before_denial)
    events = LicenseEvent.objects.filter(license=license).count()
    if status in ALLOWED_FROM[action]:
        ACTIONS[action](world.dist_admin, license)
        assert LicenseEvent.objects.filter(license=license).count() == events + 1
    else:
        with pytest.raises(Conflict):
            ACTIONS[action](world.dist_admin, license)
        license.refresh_from_db()
        assert license.status == status
        assert LicenseEvent.objects.filter(license=license).count() == events


@pytest.mark.parametrize("status", ALL)
@time_machine.travel(NOW, tick=False)
def test_start_only_from_pending_start(world, status):
    license = make_license(world, status)
    if status == S.PENDING_START:
        started = lifecycle.start(license.pk, dt.date(2027, 3, 10), {"devices": 5})
        assert started.status == S.IN_USE
        assert started.end_date == dt.date(2029, 3, 10)
        event = LicenseEvent.objects.get(license=license, kind="started")
        assert event.actor is None and event.actor_name == "system"
        assert event.after["devices"] == 5
    else:
        with pytest.raises(Conflict):
            lifecycle.start(license.pk, dt.date(2027, 3, 10))


def test_start_on_29_february_ends_on_28_february(world):
    license = make_license(world, S.PENDING_START, years=1)
    started = lifecycle.start(license.pk, dt.date(2028, 2, 29))
    assert started.end_date == dt.date(2029, 2, 28)


@pytest.mark.parametrize("status", ALL)
def test_cut_off_only_from_in_use_and_only_after_the_end(world, status):
    license = make_license(world, status, start=dt.date(2025, 3, 10), years=2)
    # the end date is 2027-03-10 in Europe/Madrid: 2027-03-09T23:00Z
    just_before = dt.datetime(2027, 3, 9, 22, 59, tzinfo=dt.UTC)
    with time_machine.travel(just_before, tick=False), pytest.raises(Conflict):
        lifecycle.cut_off(license.pk)
    with time_machine.travel(dt.datetime(2027, 3, 9, 23, 0, tzinfo=dt.UTC), tick=False):
        if status == S.IN_USE:
            assert lifecycle.cut_off(license.pk).status == S.CONTRACT_FINALIZED
        else:
            with pytest.raises(Conflict):
                lifecycle.cut_off(license.pk)


NOT_THIS_ROLE = "^Your role cannot make this change to a license"
NOT_THEIRS = "^This license belongs to another "


@pytest.mark.parametrize(
    ("person", "refused_because"),
    [
        ("dist_viewer", NOT_THIS_ROLE),  # the right tenant, a read-only role
        ("staff_viewer", NOT_THIS_ROLE),
        ("other_dist_admin", NOT_THEIRS),  # the right role, another distributor's license
        ("partner_admin", NOT_THIS_ROLE),  # tenant types the table does not list
        ("org_admin", NOT_THIS_ROLE),
    ],
)
@pytest.mark.parametrize("action", list(ACTIONS))
@time_machine.travel(NOW, tick=False)
def test_only_the_distributor_and_staff_act(world, person, refused_because, action):
    """Each person is refused by the rule that concerns them, and changes nothing."""
    status = next(iter(ALLOWED_FROM[action]))
    license = make_license(
        world, status, before_denial=S.IN_USE if status == S.ACCESS_DENIED else ""
    )
    with pytest.raises(PermissionDenied, match=refused_because):
        ACTIONS[action](getattr(world, person), license)
    license.refresh_from_db()
    assert license.status == status
    assert not LicenseEvent.objects.filter(license=license).exists()
    ACTIONS[action](world.staff, license)


@time_machine.travel(NOW, tick=False)
def test_deny_and_restore_return_to_previous_status(world):
    license = make_license(world, S.IN_USE)
    assert lifecycle.deny(world.dist_admin, license.pk, "unpaid").status == S.ACCESS_DENIED
    assert lifecycle.restore(world.dist_admin, license.pk).status == S.IN_USE
    history = list(
        LicenseEvent.objects.filter(license=license).values_list("kind", "actor_name", "reason")
    )
    assert history == [("denied", "dist_admin", "unpaid"), ("restored", "dist_admin", "")]


def test_restore_after_the_end_finalizes(world):
    license = make_license(world, S.IN_USE, start=dt.date(2025, 1, 1), years=1)
    with time_machine.travel(dt.datetime(2025, 6, 1, tzinfo=dt.UTC), tick=False):
        lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    with time_machine.travel(dt.datetime(2026, 1, 2, tzinfo=dt.UTC), tick=False):
        restored = lifecycle.restore(world.dist_admin, license.pk)
    assert restored.status == S.CONTRACT_FINALIZED


@pytest.mark.parametrize(
    ("action", "status"), [("deny", S.IN_USE), ("cancel", S.PENDING_PROVISION)]
)
def test_deny_and_cancel_need_a_reason(world, action, status):
    """Without a reason the action is refused and leaves the license as it was."""
    license = make_license(world, status)
    with pytest.raises(ValidationError) as refused:
        getattr(lifecycle, action)(world.dist_admin, license.pk, "  ")
    assert set(refused.value.message_dict) == {"reason"}
    license.refresh_from_db()
    assert (license.status, license.status_before_denial) == (status, "")
    assert not LicenseEvent.objects.filter(license=license).exists()


def test_renew_before_the_end_moves_the_end_date(world):
    license = make_license(world, S.IN_USE, start=dt.date(2026, 1, 15), years=2)
    with time_machine.travel(NOW, tick=False):
        renewed = lifecycle.renew(world.dist_admin, license.pk, 3)
    assert (renewed.status, renewed.start_date, renewed.end_date) == (
        S.IN_USE,
        dt.date(2026, 1, 15),
        dt.date(2031, 1, 15),
    )
    event = LicenseEvent.objects.get(license=license, kind="renewed")
    assert event.before == {"end_date": "2028-01-15"}
    assert event.after == {"end_date": "2031-01-15", "years": 3}


def test_renew_after_the_end_starts_a_new_term_today(world):
    license = make_license(world, S.CONTRACT_FINALIZED, start=dt.date(2024, 1, 15), years=2)
    with time_machine.travel(NOW, tick=False):
        renewed = lifecycle.renew(world.dist_admin, license.pk, 1)
    assert (renewed.status, renewed.start_date, renewed.end_date) == (
        S.IN_USE,
        dt.date(2027, 3, 10),
        dt.date(2028, 3, 10),
    )


def test_renew_keeps_a_denial_until_restored(world):
    license = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    with time_machine.travel(NOW, tick=False):
        renewed = lifecycle.renew(world.dist_admin, license.pk, 1)
        assert renewed.status == S.ACCESS_DENIED
        assert lifecycle.restore(world.dist_admin, license.pk).status == S.IN_USE


def test_cancelled_license_cannot_be_renewed(world):
    license = make_license(world, S.PENDING_PROVISION)
    lifecycle.cancel(world.dist_admin, license.pk, "never used")
    with pytest.raises(Conflict):
        lifecycle.renew(world.dist_admin, license.pk, 1)


def test_history_is_append_only(world):
    license = make_license(world, S.IN_USE)
    lifecycle.deny(world.dist_admin, license.pk, "x")
    event = LicenseEvent.objects.get(license=license)
    event.reason = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()


@pytest.mark.django_db(transaction=True)
def test_apply_change_refuses_to_run_outside_a_transaction(world):
    license = make_license(world, S.IN_USE)
    with pytest.raises(RuntimeError):
        lifecycle.apply_change(license, "deny", world.staff, status=S.ACCESS_DENIED)


def test_the_table_says_which_actions_assign_a_location():
    adds = {a for a, rule in lifecycle.TRANSITIONS.items() if rule.assignment == lifecycle.ADDS}
    removes = {
        a for a, rule in lifecycle.TRANSITIONS.items() if rule.assignment == lifecycle.REMOVES
    }
    assert (adds, removes) == ({"provision", "assign"}, {"unassign"})


@pytest.mark.parametrize(
    ("action", "with_location"), [("assign", False), ("unassign", False), ("deny", True)]
)
def test_apply_change_takes_a_location_exactly_when_the_table_says(world, action, with_location):
    license = make_license(world, S.IN_USE)
    location = {"location": world.shop} if with_location else {}
    with transaction.atomic(), pytest.raises(TypeError):
        lifecycle.apply_change(lifecycle.lock(license.pk), action, world.staff, **location)
    assert set(license.assignments.values_list("location", flat=True)) == {world.hotel.pk}
    assert License.objects.get(pk=license.pk).status == S.IN_USE


def _stored(location):
    return CurrentLicense.objects.filter(location=location).values_list("license", flat=True).get()


def test_every_assignment_and_status_change_stores_the_locations_license(world):
    """No caller stores it: the lifecycle does, in the change's transaction."""
    license = make_license(world, S.IN_USE)
    License.objects.filter(pk=license.pk).update(license_type="aps")  # the shop: no rooms
    lifecycle.assign(world.staff, license.pk, world.shop)
    assert _stored(world.shop) == license.pk
    lifecycle.unassign(world.staff, license.pk, world.shop)
    assert _stored(world.shop) is None
    with time_machine.travel(dt.datetime(2028, 1, 16, tzinfo=dt.UTC), tick=False):
        lifecycle.cut_off(license.pk)  # finalized: still the latest assigned to the hotel
    pending = License.objects.create(
        key=generate_key(),
        location=world.hotel,
        distributor=world.dist,
        partner=world.partner,
        years=1,
        payment="annual",
        license_type="rooms",
        limit=10,
        timezone=world.hotel.timezone,
    )
    with transaction.atomic():
        lifecycle.created(pending, world.staff, after={})
    assert _stored(world.hotel) == license.pk  # an assigned license comes first
    lifecycle.provision(world.org_admin, world.hotel, pending.key)
    assert _stored(world.hotel) == pending.pk  # now active
