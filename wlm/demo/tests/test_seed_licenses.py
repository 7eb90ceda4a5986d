"""``seed_demo``'s licenses: every status, a history that matches it, idempotent."""

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from wlm.lib import clock
from wlm.licenses.entitlement import entitlement_for
from wlm.licenses.limits import elements_in_use
from wlm.licenses.models import (
    ACTIVE_STATUSES,
    Assignment,
    EventKind,
    License,
    LicenseEvent,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    RequestState,
)

pytestmark = pytest.mark.django_db
S = LicenseStatus
K = EventKind

# the events a license in each status must have (its way there)
PATH = {
    S.PENDING_PROVISION: {K.CREATED},
    S.PENDING_START: {K.CREATED, K.PROVISIONED},
    S.IN_USE: {K.CREATED, K.PROVISIONED, K.STARTED},
    S.ACCESS_DENIED: {K.CREATED, K.PROVISIONED, K.STARTED, K.DENIED},
}


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def kinds(license: License) -> list[str]:
    return list(license.events.order_by("at", "pk").values_list("kind", flat=True))


def counts() -> tuple:
    return (
        tuple(sorted(Counter(License.objects.values_list("status", flat=True)).items())),
        tuple(sorted(Counter(LicenseRequest.objects.values_list("state", flat=True)).items())),
        LicenseEvent.objects.count(),
        Assignment.objects.count(),
    )


def test_every_status_and_request_state():
    output = seed()
    statuses = Counter(License.objects.values_list("status", flat=True))
    assert set(statuses) == set(S.values)
    assert statuses[S.IN_USE] >= 3
    assert statuses[S.PENDING_PROVISION] >= 2 and statuses[S.CONTRACT_FINALIZED] >= 2
    assert LicenseRequest.objects.filter(state=RequestState.PENDING).count() >= 2
    rejected = LicenseRequest.objects.get(state=RequestState.REJECTED)
    assert rejected.reason and rejected.decided is not None
    for request in LicenseRequest.objects.filter(state=RequestState.APPROVED):
        assert request.license.location_id == request.location_id
    line = next(line for line in output.splitlines() if line.startswith("Licenses:"))
    assert f"{statuses[S.IN_USE]} in_use" in line and "1 rejected" in line


def test_every_history_starts_with_created_and_matches_the_status():
    seed()
    for license in License.objects.all():
        history = kinds(license)
        assert history[0] == K.CREATED, (license.location.name, history)
        assert history.count(K.CREATED) == 1
        if license.status in PATH:
            assert PATH[license.status] <= set(history), (license.status, history)
        if license.status == S.PENDING_PROVISION:
            assert K.PROVISIONED not in history and not license.assignments.exists()
    finalized = [kinds(lic) for lic in License.objects.filter(status=S.CONTRACT_FINALIZED)]
    assert [K.CREATED, K.CANCELLED] in finalized
    assert any(history[-1] == K.CUT_OFF and K.STARTED in history for history in finalized)
    denied = License.objects.get(status=S.ACCESS_DENIED)
    assert denied.events.get(kind=K.DENIED).reason
    assert denied.status_before_denial == S.IN_USE


def test_the_stories_renewed_upgraded_assigned_ending_soon_direct():
    seed()
    renewed = License.objects.get(events__kind=K.RENEWED)
    assert renewed.status == S.IN_USE
    event = renewed.events.get(kind=K.RENEWED)
    assert event.before["end_date"] < event.after["end_date"]
    upgraded = License.objects.get(events__kind=K.UPGRADED)
    assert upgraded.status == S.IN_USE
    assert upgraded.events.get(kind=K.UPGRADED).after["limit"] == upgraded.limit
    two = License.objects.get(events__kind=K.ASSIGNED)
    assert two.status == S.IN_USE and two.assignments.count() == 2
    # the "ending soon" views: an in-use license ends within 30 days
    soon = [
        lic
        for lic in License.objects.filter(status=S.IN_USE)
        if lic.end_date - clock.today_in(lic.timezone) <= dt.timedelta(days=30)
    ]
    assert soon
    # pending provision: one from an approved request, one generated directly
    pending = License.objects.filter(status=S.PENDING_PROVISION)
    assert {lic.events.get(kind=K.CREATED).after.get("request") is None for lic in pending} == {
        True,
        False,
    }
    # actors: the demo users, and "system" for start and cut-off
    actors = set(LicenseEvent.objects.values_list("kind", "actor_name"))
    assert (K.STARTED, "system") in actors and (K.CUT_OFF, "system") in actors
    assert {(K.PROVISIONED, "marazul"), (K.DENIED, "iberia"), (K.RENEWED, "pacific")} <= actors


def test_spread_over_zones_hotels_and_within_limits():
    seed()
    zones = set(License.objects.values_list("timezone", flat=True))
    assert {"Pacific/Auckland", "Europe/Madrid", "Europe/Lisbon"} <= zones
    hotels = License.objects.filter(license_type=LicenseType.ROOMS, status=S.IN_USE)
    assert hotels.filter(timezone="Pacific/Auckland").exists()
    assert hotels.filter(timezone="Europe/Madrid").exists()
    assert License.objects.values("location__organization").distinct().count() == 5
    for license in License.objects.filter(status__in=ACTIVE_STATUSES):
        assert elements_in_use(license) <= license.limit, license.key
        assert license.organization_id == license.location.organization_id


def test_entitlements_in_use_available_denied_not():
    seed()
    now = clock.now()
    for license in License.objects.filter(status__in=[S.IN_USE, S.ACCESS_DENIED]):
        for assignment in license.assignments.all():
            entitlement = entitlement_for(assignment.location, now)
            expected = "available" if license.status == S.IN_USE else "unavailable"
            assert entitlement.service == expected, (assignment.location.name, entitlement)
            assert entitlement.license == license.key


def test_running_twice_keeps_the_same_counts():
    seed()
    before = counts()
    output = seed()
    assert counts() == before
    assert "left as they are" in output


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2028, 2, 9, 12, 0, tzinfo=dt.UTC),  # ending soon lands on 29 February
        dt.datetime(2027, 12, 31, 23, 30, tzinfo=dt.UTC),  # already next year in Auckland
        dt.datetime(2029, 3, 1, 0, 30, tzinfo=dt.UTC),
    ],
)
def test_seeds_on_any_day(moment):
    with time_machine.travel(moment, tick=False):
        seed()
        assert set(License.objects.values_list("status", flat=True)) == set(S.values)
        in_use = License.objects.filter(status=S.IN_USE)
        assert all(
            entitlement_for(lic.location, clock.now()).service == "available" for lic in in_use
        )
