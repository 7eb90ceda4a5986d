"""Entitlement: computed from the dates at the moment of the question."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from wlm.licenses.entitlement import decide, entitlement_for
from wlm.licenses.models import License, LicenseStatus, Module
from wlm.licenses.tests.test_lifecycle import make_license

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)


def url(location):
    return f"/api/v1/locations/{location.pk}/entitlement/"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (S.PENDING_START, "ok"),
        (S.IN_USE, "ok"),
        (S.ACCESS_DENIED, "access_denied"),
        (S.CONTRACT_FINALIZED, "contract_finalized"),
        (S.PENDING_PROVISION, "pending_provision"),
    ],
)
@time_machine.travel(NOW, tick=False)
def test_reason_for_every_status(world, api, status, reason):
    license = make_license(
        world,
        status,
        start=dt.date(2026, 6, 1),
        years=2,
        before_denial=S.IN_USE if status == S.ACCESS_DENIED else "",
    )
    license.modules.set(Module.objects.filter(code__in=["guest", "pms"]))
    body = api(world.gateway).get(url(world.hotel)).json()
    assert body["reason"] == reason
    assert body["service"] == ("available" if reason == "ok" else "unavailable")
    if status != S.PENDING_PROVISION:
        assert body["license"] == license.key
        assert body["status"] == status
        assert body["modules"] == ["guest", "pms"]
        assert body["rooms"] == {"max": 10, "used": 1}
        assert body["aps"] == {"max": None, "used": 1}


def test_no_license(world, api):
    body = api(world.gateway).get(url(world.shop)).json()
    assert (body["service"], body["reason"], body["license"]) == ("unavailable", "no_license", None)


def test_in_use_license_past_its_end_is_expired_before_any_worker_runs(world, api):
    make_license(world, S.IN_USE, start=dt.date(2025, 3, 10), years=2)  # ends 2027-03-10
    client = api(world.gateway)
    # Europe/Madrid: the end date starts at 2027-03-09T23:00Z
    with time_machine.travel(dt.datetime(2027, 3, 9, 22, 59, 59, tzinfo=dt.UTC), tick=False):
        assert client.get(url(world.hotel)).json()["reason"] == "ok"
    with time_machine.travel(dt.datetime(2027, 3, 9, 23, 0, 0, tzinfo=dt.UTC), tick=False):
        body = client.get(url(world.hotel)).json()
    assert (body["service"], body["reason"], body["status"]) == ("unavailable", "expired", "in_use")
    assert License.objects.get().status == S.IN_USE  # nothing was updated


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("gateway", 200),
        ("staff_viewer", 200),
        ("org_viewer", 200),
        ("dist_viewer", 200),
        ("other_org_admin", 404),
        ("other_partner_admin", 404),
    ],
)
def test_who_reads_entitlements(world, api, person, expected):
    assert api(getattr(world, person)).get(url(world.hotel)).status_code == expected


def test_gateway_reaches_nothing_else(world, api):
    assert api(world.gateway).get(f"/api/v1/locations/{world.hotel.pk}/").status_code == 403


@time_machine.travel(NOW, tick=False)
def test_entitlement_takes_at_most_three_queries(world, django_assert_max_num_queries):
    make_license(world, S.IN_USE)
    with django_assert_max_num_queries(3):
        location = type(world.hotel).objects.get(pk=world.hotel.pk)
        result = entitlement_for(location, NOW)
    assert result.reason == "ok"


statuses = st.sampled_from([None, *S.values])
dates = st.dates(dt.date(2020, 1, 1), dt.date(2035, 1, 1))
moments = st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2035, 1, 1), timezones=st.just(dt.UTC))


@given(
    statuses,
    st.one_of(st.none(), dates),
    moments,
    st.sampled_from(["Pacific/Auckland", "Europe/Madrid", "America/Los_Angeles"]),
)
def test_only_a_running_license_before_its_end_is_served(status, end_date, now, tz):
    reason = decide(status, end_date, tz, now)
    local_today = now.astimezone(zoneinfo.ZoneInfo(tz)).date()
    running = status in (S.PENDING_START, S.IN_USE)
    before_end = end_date is None or local_today < end_date
    assert (reason == "ok") == (running and before_end)


# --- What a tenant reads: only the licenses it sees -------------------------------------


def unlicensed_answer(location) -> dict:
    """The body for a location without any license: what a masked license looks like."""
    return {
        "location": str(location.pk),
        "service": "unavailable",
        "reason": "no_license",
        "license": None,
        "status": None,
        "modules": [],
        "aps": {"max": None, "used": 0},
        "rooms": {"max": None, "used": 0},
        "end_date": None,
    }


@pytest.fixture
def competitor(world):
    """The partner works with both distributors; ``other_dist`` (and its viewer) see the
    hotel, whose license in use is ``dist``'s."""
    from wlm.conftest import make_user
    from wlm.tenancy.models import Role, TenantType

    world.partner.distributors.add(world.other_dist)
    world.other_dist_viewer = make_user(
        "other_dist_viewer", TenantType.DISTRIBUTOR, world.other_dist, Role.VIEWER
    )
    license = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    license.modules.set(Module.objects.filter(code__in=["guest", "pms"]))
    return license


@pytest.mark.parametrize("person", ["other_dist_admin", "other_dist_viewer"])
@time_machine.travel(NOW, tick=False)
def test_another_distributors_license_is_masked_as_the_locations_list_masks_it(
    world, api, competitor, person
):
    client = api(getattr(world, person))
    # the location is visible to the other distributor, its license is not
    assert client.get(f"/api/v1/licenses/{competitor.pk}/").status_code == 404
    row = client.get(f"/api/v1/locations/{world.hotel.pk}/").json()
    assert row["license"] is None
    response = client.get(url(world.hotel))
    assert response.status_code == 200
    assert response.json() == unlicensed_answer(world.hotel)
    assert competitor.key not in response.content.decode()


@pytest.mark.parametrize(
    "person", ["gateway", "staff_viewer", "dist_viewer", "partner_viewer", "org_viewer"]
)
@time_machine.travel(NOW, tick=False)
def test_who_sees_the_license_reads_it_in_the_entitlement(world, api, competitor, person):
    body = api(getattr(world, person)).get(url(world.hotel)).json()
    assert (body["license"], body["reason"], body["modules"]) == (
        competitor.key,
        "ok",
        ["guest", "pms"],
    )


@time_machine.travel(NOW, tick=False)
def test_a_license_not_yet_sent_is_masked_for_the_organization(world, api):
    """Pending provision: the organization sees no license before Send Key (the list
    neither); the distributor that made it reads the reason."""
    make_license(world, S.PENDING_PROVISION)
    assert api(world.org_viewer).get(url(world.hotel)).json() == unlicensed_answer(world.hotel)
    assert api(world.dist_viewer).get(url(world.hotel)).json()["reason"] == "pending_provision"
