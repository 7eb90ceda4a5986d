"""Send Key through the API: POST /api/v1/locations/{id}/activate/ {"key"} (DESIGN §3, §4).

Activation, the one answer for every key that cannot be activated here, the conflicts,
who may try a key, and the per-user and per-address throttles.
"""

import copy
import uuid
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from wlm.conftest import make_user
from wlm.licenses import current, lifecycle, throttles
from wlm.licenses.keys import generate_key
from wlm.licenses.models import Assignment, License, LicenseEvent, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Location, Room
from wlm.tenancy.models import Role, TenantType

pytestmark = pytest.mark.django_db

S = LicenseStatus
PROBLEM = "application/problem+json"
KEY = "A1B0C-D1E0F-GH1J0-K1M0N-P1Q0R"  # has 0s and 1s, so O, I and L can stand for them


def activate(api, user, location, key, **extra):
    data = {} if key is None else {"key": key}
    return api(user).post(f"/api/v1/locations/{location.pk}/activate/", data, **extra)


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def unsent(world, key=None, location=None):
    """A pending_provision license made for ``location`` (default: the hotel)."""
    license = make_license(world, S.PENDING_PROVISION)
    fields = {}
    if key:
        fields["key"] = key
    if location is not None:
        fields.update(location=location, timezone=location.timezone)
    if fields:
        License.objects.filter(pk=license.pk).update(**fields)
        current.refresh([world.hotel, location])  # test data moved past the services
        license.refresh_from_db()
    return license


def foreign_unsent(world):
    """A pending_provision license of the other organization (for its office)."""
    license = unsent(world, location=world.other_office)
    License.objects.filter(pk=license.pk).update(
        distributor=world.other_dist, partner=world.other_partner, license_type="aps"
    )
    current.refresh([license.location_id])  # its stored copies, as after a service's change
    return license


def snapshot(license):
    license.refresh_from_db()
    return (
        license.status,
        license.organization_id,
        license.provisioned,
        sorted(str(pk) for pk in license.assignments.values_list("location_id", flat=True)),
        LicenseEvent.objects.filter(license=license).count(),
    )


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()


# --- Success ---------------------------------------------------------------------------


def test_send_key_provisions_the_license_on_the_location(world, api):
    license = unsent(world)
    response = activate(api, world.org_admin, world.hotel, license.key)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["id"] == license.pk
    assert body["key"] == license.key
    assert body["status"] == "pending_start"
    assert body["organization"] == world.org.pk
    assert body["provisioned"] is not None
    license.refresh_from_db()
    assert license.status == S.PENDING_START
    assert license.organization == world.org
    assert license.timezone == world.hotel.timezone
    assert list(Assignment.objects.filter(license=license).values_list("location", flat=True)) == [
        world.hotel.pk
    ]
    event = LicenseEvent.objects.get(license=license)
    assert event.kind == "provisioned"
    assert event.actor_name == "org_admin"
    assert event.before["status"] == "pending_provision"
    assert event.after["status"] == "pending_start"
    assert event.after["location"] == str(world.hotel.pk)
    # the organization sees its license from now on
    detail = api(world.org_viewer).get(f"/api/v1/licenses/{license.pk}/")
    assert detail.status_code == 200
    assert detail.json()["assignments"][0]["location"] == str(world.hotel.pk)


@pytest.mark.parametrize(
    "typed",
    [
        KEY.lower(),
        "a1b0c d1e0f gh1j0 k1m0n p1q0r",  # spaces instead of hyphens
        "  aib0c-dle0f-ghij0-klm0n-piq0r  ",  # I and L for 1
        "AIBOC-DLEOF-GHIJO-KLMON-PIQOR",  # O for 0 as well
        "aIbOc dLeOf GhIjO kLmOn PiQoR",
        "A1B0CD1E0FGH1J0K1M0NP1Q0R",  # no separators
    ],
)
def test_a_key_typed_as_people_type_it_works(world, api, typed):
    license = unsent(world, key=KEY)
    response = activate(api, world.org_admin, world.hotel, typed)
    assert response.status_code == 200, response.content
    assert response.json()["key"] == KEY
    license.refresh_from_db()
    assert license.status == S.PENDING_START


def test_a_key_works_on_another_location_of_the_organization(world, api):
    """The key names the organization; Send Key assigns the location it is entered on,
    whose time zone becomes the license's (docs/lifecycle.md)."""
    license = unsent(world, location=world.shop)
    License.objects.filter(pk=license.pk).update(license_type="aps", limit=5)
    other_shop = Location.objects.create(
        organization=world.org,
        name="Second Shop",
        sector="retail",
        timezone="America/Lima",
        address="Jr. 4",
        country="PE",
    )
    response = activate(api, world.org_admin, other_shop, license.key)
    assert response.status_code == 200, response.content
    assert response.json()["timezone"] == "America/Lima"
    assert response.json()["location"] == str(world.shop.pk)  # still the one it was made for
    assert list(license.assignments.values_list("location", flat=True)) == [other_shop.pk]


def test_a_rooms_key_is_refused_on_a_location_without_rooms(world, api):
    license = unsent(world)  # rooms, made for the hotel
    before = snapshot(license)
    response = activate(api, world.org_admin, world.shop, license.key)  # retail
    if response.status_code == 200:  # what happens today: the shop's APs are unlimited
        entitlement = api(world.gateway).get(f"/api/v1/locations/{world.shop.pk}/entitlement/")
        assert entitlement.json()["aps"]["max"] is None
    body = problem(response, 409)
    assert "hospitality" in body["detail"]
    assert snapshot(license) == before


def test_staff_may_send_a_key(world, api):
    license = unsent(world)
    response = activate(api, world.staff, world.hotel, license.key)
    assert response.status_code == 200, response.content
    assert LicenseEvent.objects.get(license=license).actor_name == "staff"


# --- One answer for every key that cannot be activated here ----------------------------


def test_unknown_malformed_and_foreign_keys_get_the_same_bytes(world, api):
    foreign = foreign_unsent(world)
    before = snapshot(foreign)
    answers = [
        activate(api, world.org_admin, world.hotel, key)
        for key in (
            generate_key(),  # well formed, unknown
            "not a license key",  # malformed
            "12345",  # too short
            "ÅÅÅÅÅ-ÅÅÅÅÅ-ÅÅÅÅÅ-ÅÅÅÅÅ-ÅÅÅÅÅ",  # not ASCII
            "X" * 150,  # longer than any key
            foreign.key,  # another organization's key
            foreign.key.lower(),
        )
    ]
    first = answers[0]
    problem(first, 404)
    for answer in answers[1:]:
        assert answer.status_code == first.status_code
        assert answer.content == first.content
        assert answer["Content-Type"] == first["Content-Type"]
    assert snapshot(foreign) == before


def test_another_organizations_key_is_not_activated_even_on_its_own_terms(world, api):
    """The other organization's admin can activate it on its office; ours cannot."""
    foreign = foreign_unsent(world)
    problem(activate(api, world.org_admin, world.shop, foreign.key), 404)
    response = activate(api, world.other_org_admin, world.other_office, foreign.key)
    assert response.status_code == 200, response.content
    assert response.json()["organization"] == world.other_org.pk


# --- Conflicts -------------------------------------------------------------------------


def test_a_used_key_is_409(world, api):
    license = unsent(world)
    assert activate(api, world.org_admin, world.hotel, license.key).status_code == 200
    before = snapshot(license)
    body = problem(activate(api, world.org_admin, world.hotel, license.key), 409)
    assert "already been used" in body["detail"]
    problem(activate(api, world.org_admin, world.shop, license.key), 409)
    assert snapshot(license) == before


@pytest.mark.parametrize("status", [S.PENDING_START, S.IN_USE, S.ACCESS_DENIED])
def test_a_key_past_pending_provision_is_409(world, api, status):
    before_denial = S.IN_USE if status == S.ACCESS_DENIED else ""
    license = make_license(world, status, before_denial=before_denial)
    before = snapshot(license)
    problem(activate(api, world.org_admin, world.shop, license.key), 409)
    assert snapshot(license) == before


def test_a_cancelled_key_is_409(world, api):
    license = unsent(world)
    lifecycle.cancel(world.dist_admin, license.pk, "customer left")
    before = snapshot(license)
    assert before[0] == S.CONTRACT_FINALIZED
    problem(activate(api, world.org_admin, world.hotel, license.key), 409)
    assert snapshot(license) == before


@pytest.mark.parametrize("held", [S.PENDING_START, S.IN_USE, S.ACCESS_DENIED])
def test_a_location_that_holds_an_active_license_is_409(world, api, held):
    make_license(world, held, before_denial=S.IN_USE if held == S.ACCESS_DENIED else "")
    license = unsent(world)
    before = snapshot(license)
    body = problem(activate(api, world.org_admin, world.hotel, license.key), 409)
    assert "already holds an active license" in body["detail"]
    assert snapshot(license) == before


def test_a_location_whose_license_has_ended_takes_a_new_key(world, api):
    make_license(world, S.CONTRACT_FINALIZED)  # assigned to the hotel, finished
    license = unsent(world)
    assert activate(api, world.org_admin, world.hotel, license.key).status_code == 200


def test_a_key_below_the_elements_already_configured_is_409(world, api):
    license = unsent(world)
    License.objects.filter(pk=license.pk).update(limit=2)
    for number in ("102", "103"):
        Room.objects.create(location=world.hotel, number=number)
    before = snapshot(license)
    body = problem(activate(api, world.org_admin, world.hotel, license.key), 409)
    assert f"License {license.key} allows 2 rooms; 3 would be in use." in body["detail"]
    assert snapshot(license) == before
    Room.objects.filter(location=world.hotel, number="103").delete()
    assert activate(api, world.org_admin, world.hotel, license.key).status_code == 200


# --- Who may try a key -----------------------------------------------------------------


@pytest.mark.parametrize("person", ["org_viewer", "partner_admin", "dist_admin", "gateway"])
def test_only_organization_admins_and_staff_try_keys(world, api, person):
    license = unsent(world)
    before = snapshot(license)
    user = getattr(world, person)
    real = activate(api, user, world.hotel, license.key)
    unknown = activate(api, user, world.hotel, generate_key())
    malformed = activate(api, user, world.hotel, "nonsense")
    problem(real, 403)
    # the refusal says nothing about the key: no probing
    assert real.content == unknown.content == malformed.content
    assert snapshot(license) == before


def test_partner_admin_gets_403_before_the_body_is_read(world, api):
    first = activate(api, world.partner_admin, world.hotel, None)
    problem(first, 403)
    assert activate(api, world.partner_admin, world.hotel, generate_key()).content == first.content


def test_anonymous_is_401(world, api):
    license = unsent(world)
    problem(activate(api, None, world.hotel, license.key), 401)


def test_another_organizations_location_is_404(world, api):
    foreign = foreign_unsent(world)
    before = snapshot(foreign)
    for key in (foreign.key, generate_key()):
        problem(activate(api, world.org_admin, world.other_office, key), 404)
    nowhere = SimpleNamespace(pk=uuid.uuid4())
    problem(activate(api, world.org_admin, nowhere, foreign.key), 404)
    assert snapshot(foreign) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [({}, "key"), ({"key": ""}, "key"), ({"key": None}, "key"), ({"key": ["x"]}, "key")],
)
def test_missing_or_empty_key_is_400(world, api, data, field):
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/activate/", data, format="json"
    )
    body = problem(response, 400)
    assert field in body["errors"]


# --- Throttling ------------------------------------------------------------------------


@pytest.fixture
def rates(settings, monkeypatch):
    """``rates(user=N, address=M)``: lower the Send Key throttles to N and M a minute.

    DRF reads the rates into the throttle class attribute ``THROTTLE_RATES`` at import,
    so the classes are patched as well as the settings (NUM_PROXIES stays 0).
    """

    def lower(user=1000, address=1000):
        framework = copy.deepcopy(settings.REST_FRAMEWORK)
        framework["DEFAULT_THROTTLE_RATES"].update(
            activate_user=f"{user}/min", activate_address=f"{address}/min"
        )
        framework["NUM_PROXIES"] = 0
        settings.REST_FRAMEWORK = framework
        table = framework["DEFAULT_THROTTLE_RATES"]
        for throttle in (
            throttles.ActivationUserThrottle,
            throttles.ActivationAddressThrottle,
        ):
            monkeypatch.setattr(throttle, "THROTTLE_RATES", table)
        cache.clear()

    return lower


def assert_throttled(response):
    body = problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["type"].endswith("/throttled")
    return body


def test_the_user_throttle_stops_the_next_attempt(world, api, rates):
    rates(user=3)
    for _ in range(3):
        problem(activate(api, world.org_admin, world.hotel, generate_key()), 404)
    assert_throttled(activate(api, world.org_admin, world.hotel, generate_key()))
    # even the right key waits now: the throttle runs before the key is looked at
    license = unsent(world)
    assert_throttled(activate(api, world.org_admin, world.hotel, license.key))
    assert snapshot(license)[0] == S.PENDING_PROVISION
    # another user of the organization, from another address, has its own budget
    response = activate(api, world.staff, world.hotel, license.key, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 200, response.content


def test_every_attempt_counts_whatever_its_answer(world, api, rates):
    rates(user=4)
    used = unsent(world)
    assert activate(api, world.org_admin, world.hotel, used.key).status_code == 200
    assert activate(api, world.org_admin, world.hotel, used.key).status_code == 409
    assert activate(api, world.org_admin, world.hotel, None).status_code == 400
    assert activate(api, world.org_admin, world.other_office, used.key).status_code == 404
    assert_throttled(activate(api, world.org_admin, world.hotel, generate_key()))


def test_refused_roles_do_not_spend_the_budget(world, api, rates):
    """403 comes before the throttles: a viewer's tries cost the address nothing."""
    rates(address=2)
    for _ in range(5):
        problem(activate(api, world.org_viewer, world.hotel, generate_key()), 403)
    problem(activate(api, world.org_admin, world.hotel, generate_key()), 404)
    problem(activate(api, world.org_admin, world.hotel, generate_key()), 404)
    assert_throttled(activate(api, world.org_admin, world.hotel, generate_key()))


@pytest.fixture
def second_org_admin(world):
    return make_user("org_admin_2", TenantType.ORGANIZATION, world.org, Role.ADMIN)


def test_users_behind_one_address_share_its_budget(world, api, rates, second_org_admin):
    rates(user=100, address=3)
    problem(activate(api, world.org_admin, world.hotel, generate_key()), 404)
    problem(activate(api, second_org_admin, world.shop, generate_key()), 404)
    problem(activate(api, world.other_org_admin, world.other_office, generate_key()), 404)
    for user, location in [
        (world.org_admin, world.hotel),
        (second_org_admin, world.hotel),
        (world.other_org_admin, world.other_office),
    ]:
        assert_throttled(activate(api, user, location, generate_key()))
    # another address is counted on its own
    elsewhere = activate(api, world.org_admin, world.hotel, generate_key(), REMOTE_ADDR="10.0.0.2")
    problem(elsewhere, 404)
    for _ in range(2):
        problem(
            activate(api, second_org_admin, world.shop, generate_key(), REMOTE_ADDR="10.0.0.2"), 404
        )
    assert_throttled(
        activate(api, world.org_admin, world.hotel, generate_key(), REMOTE_ADDR="10.0.0.2")
    )
    # and a third address still has its whole budget
    license = unsent(world)
    response = activate(api, second_org_admin, world.hotel, license.key, REMOTE_ADDR="10.0.0.3")
    assert response.status_code == 200, response.content


def test_x_forwarded_for_does_not_choose_the_counted_address(world, api, rates):
    rates(user=100, address=2)
    for forwarded in ("203.0.113.1", "203.0.113.2"):
        problem(
            activate(
                api, world.org_admin, world.hotel, generate_key(), HTTP_X_FORWARDED_FOR=forwarded
            ),
            404,
        )
    # the budget of 127.0.0.1 is spent, whatever the header claims
    for forwarded in ("203.0.113.3", "10.0.0.2", "127.0.0.2, 10.0.0.1"):
        assert_throttled(
            activate(
                api, world.org_admin, world.hotel, generate_key(), HTTP_X_FORWARDED_FOR=forwarded
            )
        )
    assert_throttled(activate(api, world.org_admin, world.hotel, generate_key()))
    # while the real peer address is what separates clients
    problem(
        activate(api, world.org_admin, world.hotel, generate_key(), REMOTE_ADDR="10.0.0.2"), 404
    )


def test_the_configured_user_rate_is_enforced(world, api):
    """Without lowering anything: the configured per-user rate (default 10/min) holds."""
    throttle = throttles.ActivationUserThrottle()
    if throttle.num_requests > 50:
        pytest.skip("THROTTLE_ACTIVATE_USER is set too high to exercise here")
    assert throttle.num_requests <= throttles.ActivationAddressThrottle().num_requests
    for _ in range(throttle.num_requests):
        problem(activate(api, world.org_admin, world.hotel, generate_key()), 404)
    assert_throttled(activate(api, world.org_admin, world.hotel, generate_key()))
