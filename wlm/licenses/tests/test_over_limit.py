"""No license holds more elements than it allows, whichever way it comes to hold them.

While a license is finalized it limits nothing, so its locations may take more access
points or rooms; renewing or restoring it, sending a key to such a location or assigning
it to a license is then refused (409, the numbers in the body) until the elements fit.
"""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from wlm.licenses import current, services
from wlm.licenses.models import Assignment, License, LicenseStatus
from wlm.licenses.tests.test_licenses_api import (
    add_aps,
    add_location,
    aps_license,
    problem,
    state,
    url,
)
from wlm.locations.models import AccessPoint

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
ENDED = {"start": dt.date(2024, 1, 15)}  # ended 2026-01-15
RUNNING = {"start": dt.date(2026, 1, 15)}  # ends 2028-01-15
UPGRADE_FIRST = (
    "The locations hold 5 access points; this license allows 2. "
    "Remove 3 or upgrade the license first."
)
REMOVE_FIRST = (
    "The locations hold 5 access points; this license allows 2. "
    "Remove 3 first, or use a license with a higher limit."
)


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()  # Send Key's attempts


def over_limit(response, *, limit=2, in_use=5):
    """A 409 problem of type over-limit with its numbers; its detail."""
    body = problem(response, 409)
    assert body["type"].endswith("/over-limit")
    assert (body["elements"], body["limit"], body["in_use"]) == ("access_points", limit, in_use)
    return body["detail"]


def add_aps_through_the_api(api, world, location, count):
    client = api(world.org_admin)
    for n in range(count):
        mac = f"0a:00:00:00:00:{n:02x}"
        response = client.post(f"/api/v1/locations/{location.pk}/access-points/", {"mac": mac})
        assert response.status_code == 201, response.content


def remove_aps(location, count):
    AccessPoint.objects.filter(
        pk__in=list(location.access_points.values_list("pk", flat=True)[:count])
    ).delete()


# --- Renewal -----------------------------------------------------------------------------


def test_renewing_after_the_end_refuses_what_was_added_while_finalized(world, api):
    """The pentest's case: paid for 2 access points, 5 added while finalized."""
    license = aps_license(world, S.CONTRACT_FINALIZED, limit=2, **ENDED)
    add_aps_through_the_api(api, world, world.shop, 5)  # a finalized license limits nothing
    before = state(license)
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 1})
    assert over_limit(response) == REMOVE_FIRST
    assert state(license) == before
    remove_aps(world.shop, 3)
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 1})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == S.IN_USE
    assert response.json()["general"]["aps"] == {"max": 2, "used": 2}


@pytest.mark.parametrize(
    ("status", "term"),
    [(S.IN_USE, RUNNING), (S.ACCESS_DENIED, RUNNING), (S.ACCESS_DENIED, ENDED)],
    ids=["in use before the end", "denied before the end", "denied after the end"],
)
def test_renewing_a_license_over_its_limit_is_refused(world, api, status, term):
    """Rows stored before the rule (or past the services): a renewal never extends a
    license over its limit; an active license may be upgraded first."""
    before_denial = S.IN_USE if status == S.ACCESS_DENIED else ""
    license = aps_license(world, status, limit=2, before_denial=before_denial, **term)
    add_aps(world.shop, 5)
    before = state(license)
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 1})
    assert over_limit(response) == UPGRADE_FIRST
    assert state(license) == before
    assert api(world.dist_admin).post(url(license, "upgrade"), {"aps": 5}).status_code == 200
    assert api(world.dist_admin).post(url(license, "renew"), {"years": 1}).status_code == 200


def test_renewal_counts_every_assigned_location(world, api):
    license = aps_license(world, S.CONTRACT_FINALIZED, limit=4, **ENDED)
    add_aps(world.shop, 2)
    annex = add_location(world, "Annex", aps=1)
    Assignment.objects.create(license=license, location=annex)  # assigned while in use
    current.refresh([annex])
    assert api(world.dist_admin).post(url(license, "renew"), {"years": 1}).status_code == 200
    add_aps(annex, 2)  # straight to the database: 5 over the two locations
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 1})
    assert over_limit(response, limit=4, in_use=5).startswith("The locations hold 5 access")


# --- Restore -----------------------------------------------------------------------------


def test_restoring_a_license_over_its_limit_is_refused(world, api):
    license = aps_license(world, S.ACCESS_DENIED, limit=2, before_denial=S.IN_USE, **RUNNING)
    add_aps(world.shop, 5)
    before = state(license)
    response = api(world.dist_admin).post(url(license, "restore"), {"reason": "paid"})
    assert over_limit(response) == UPGRADE_FIRST
    assert state(license) == before
    remove_aps(world.shop, 3)
    response = api(world.dist_admin).post(url(license, "restore"), {"reason": "paid"})
    assert response.json()["status"] == S.IN_USE


def test_restoring_a_license_past_its_end_finalizes_it_whatever_is_in_use(world, api):
    """Restored past its end date, it is finalized: it holds nothing, so nothing to count."""
    license = aps_license(world, S.ACCESS_DENIED, limit=2, before_denial=S.IN_USE, **ENDED)
    add_aps(world.shop, 5)
    response = api(world.dist_admin).post(url(license, "restore"), {"reason": "paid"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == S.CONTRACT_FINALIZED


# --- Send Key and assignment -----------------------------------------------------------


def new_key(world, location, aps=2) -> License:
    terms = services.Terms(
        location=location, distributor=world.dist, years=1, payment="annual", aps=aps
    )
    return services.create_license(world.dist_admin, terms)


def test_send_key_refuses_a_location_that_grew_while_its_license_was_finalized(world, api):
    aps_license(world, S.CONTRACT_FINALIZED, limit=2, **ENDED)
    add_aps_through_the_api(api, world, world.shop, 5)
    license = new_key(world, world.shop, aps=2)
    before = state(license)
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.shop.pk}/activate/", {"key": license.key}
    )
    assert "allows 2 access points; 5 would be in use" in over_limit(response)
    assert state(license) == before


def test_assigning_a_location_over_the_limit_is_refused(world, api):
    license = aps_license(world, S.IN_USE, limit=2, **RUNNING)
    annex = add_location(world, "Annex", aps=5)
    before = state(license)
    response = api(world.org_admin).post(url(license, "assignments"), {"location": str(annex.pk)})
    assert "allows 2 access points; 5 would be in use" in over_limit(response)
    assert state(license) == before


def test_upgrade_below_what_is_in_use_names_the_numbers(world, api):
    license = aps_license(world, S.IN_USE, limit=5, **RUNNING)
    add_aps(world.shop, 3)
    response = api(world.dist_admin).post(url(license, "upgrade"), {"aps": 2})
    assert "allows 2 access points; 3 would be in use" in over_limit(response, in_use=3)


def test_one_element_more_names_the_numbers(world, api):
    aps_license(world, S.IN_USE, limit=2, **RUNNING)
    add_aps(world.shop, 2)
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.shop.pk}/access-points/", {"mac": "0a:00:00:00:01:01"}
    )
    assert "allows 2 access points; 3 would be in use" in over_limit(response, in_use=3)


# --- The pages show the refusal ---------------------------------------------------------


def page_post(client, user, path, data):
    client.force_login(user)
    return client.post(path, data)


@pytest.mark.parametrize("action", ["renew", "restore"])
def test_the_pages_show_the_refusal(client, world, action):
    license = aps_license(world, S.ACCESS_DENIED, limit=2, before_denial=S.IN_USE, **RUNNING)
    add_aps(world.shop, 5)
    before = state(license)
    data = {"years": 1} if action == "renew" else {"reason": "paid"}
    response = page_post(client, world.dist_admin, f"/licenses/{license.pk}/{action}/", data)
    assert response.status_code == 400
    assert UPGRADE_FIRST in response.content.decode()
    assert state(license) == before


def test_the_renew_page_of_a_finalized_license_shows_the_refusal(client, world):
    license = aps_license(world, S.CONTRACT_FINALIZED, limit=2, **ENDED)
    add_aps(world.shop, 5)
    response = page_post(client, world.dist_admin, f"/licenses/{license.pk}/renew/", {"years": 1})
    assert response.status_code == 400
    assert REMOVE_FIRST in response.content.decode()


def test_the_assign_page_shows_the_refusal(client, world):
    license = aps_license(world, S.IN_USE, limit=2, **RUNNING)
    annex = add_location(world, "Annex", aps=5)
    response = page_post(
        client, world.org_admin, f"/licenses/{license.pk}/assign/", {"location": str(annex.pk)}
    )
    assert response.status_code == 400
    assert "allows 2 access points; 5 would be in use" in response.content.decode()


def test_the_send_key_page_shows_the_refusal(client, world):
    aps_license(world, S.CONTRACT_FINALIZED, limit=2, **ENDED)
    add_aps(world.shop, 5)
    license = new_key(world, world.shop, aps=2)
    response = page_post(
        client, world.org_admin, f"/locations/{world.shop.pk}/send-key/", {"key": license.key}
    )
    assert response.status_code == 400
    assert "allows 2 access points; 5 would be in use" in response.content.decode()
