"""A duplicate of a unique value is a 409 naming the field, never a 500.

Many unique constraints are partly set by the server (an organization's partner, a
location's organization, an access point's location), so the serializer cannot see
the duplicate: the constraint decides, at the one place the row is written, and its
violation becomes the 409 — also when a concurrent request wins the race.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from wlm.conftest import token_for
from wlm.lib.problems import Conflict, exception_handler, unique_violation
from wlm.licenses.models import Module
from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy import services as tenancy_services
from wlm.tenancy.models import Distributor, Membership, Organization, Partner
from wlm.tests.races import post_json, race
from wlm.tests.test_bad_input import assert_problem, snapshot

LOCATION = {"sector": "retail", "timezone": "UTC", "country": "ES"}


def cases(world):
    """name -> (person, method, path, payload, field)."""
    second_org = Organization.objects.create(name="Second Org", partner=world.partner)
    return {
        "new distributor": ("staff", "post", "/api/v1/distributors/", {"name": "Dist"}, "name"),
        "renamed distributor": (
            "staff",
            "patch",
            f"/api/v1/distributors/{world.other_dist.pk}/",
            {"name": "Dist"},
            "name",
        ),
        "new partner": (
            "staff",
            "post",
            "/api/v1/partners/",
            {"name": "Partner", "distributors": [world.dist.pk]},
            "name",
        ),
        "renamed partner": (
            "staff",
            "patch",
            f"/api/v1/partners/{world.other_partner.pk}/",
            {"name": "Partner"},
            "name",
        ),
        "new organization": (
            "partner_admin",
            "post",
            "/api/v1/organizations/",
            {"name": "Org", "email": "0@0.com"},
            "name",
        ),
        "new organization by staff": (
            "staff",
            "post",
            "/api/v1/organizations/",
            {"name": "Org", "partner": world.partner.pk},
            "name",
        ),
        "renamed organization": (
            "partner_admin",
            "patch",
            f"/api/v1/organizations/{second_org.pk}/",
            {"name": "Org"},
            "name",
        ),
        "new location": (
            "org_admin",
            "post",
            "/api/v1/locations/",
            {**LOCATION, "name": "Hotel", "organization": world.org.pk},
            "name",
        ),
        "renamed location": (
            "org_admin",
            "patch",
            f"/api/v1/locations/{world.shop.pk}/",
            {"name": "Hotel"},
            "name",
        ),
        "new access point": (
            "org_admin",
            "post",
            f"/api/v1/locations/{world.hotel.pk}/access-points/",
            {"mac": "02-00-00-00-00-01"},
            "mac",
        ),
        "new room": (
            "org_admin",
            "post",
            f"/api/v1/locations/{world.hotel.pk}/rooms/",
            {"number": "101"},
            "number",
        ),
        "new module": ("staff", "post", "/api/v1/modules/", {"code": "pms", "name": "x"}, "code"),
    }


CASES = [
    "new distributor",
    "renamed distributor",
    "new partner",
    "renamed partner",
    "new organization",
    "new organization by staff",
    "renamed organization",
    "new location",
    "renamed location",
    "new access point",
    "new room",
    "new module",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASES)
def test_a_duplicate_is_409_naming_the_field(world, api, name):
    person, method, path, payload, field = cases(world)[name]
    before = snapshot()
    names = {
        model: sorted(map(str, model.objects.all()))
        for model in (Distributor, Partner, Organization, Location)
    }
    response = getattr(api(getattr(world, person)), method)(path, payload, format="json")
    body = assert_problem(response, 409)
    assert body["type"].endswith("/conflict")
    assert list(body["errors"]) == [field], body
    assert all(isinstance(message, str) and message for message in body["errors"][field])
    assert snapshot() == before
    assert names == {model: sorted(map(str, model.objects.all())) for model in names}


@pytest.mark.django_db
def test_the_schemathesis_finding_second_post_is_409(world, api):
    client = api(world.partner_admin)
    first = client.post("/api/v1/organizations/", {"name": "0", "email": "0@0.com"})
    assert first.status_code == 201, first.content
    second = client.post("/api/v1/organizations/", {"name": "0", "email": "0@0.com"})
    body = assert_problem(second, 409)
    assert body["errors"] == {"name": [body["detail"]]}
    assert Organization.objects.filter(partner=world.partner, name="0").count() == 1
    # the same name under another partner is another organization
    other = api(world.other_partner_admin).post("/api/v1/organizations/", {"name": "0"})
    assert other.status_code == 201, other.content


@pytest.mark.django_db
def test_a_taken_username_stays_a_400_on_the_field(world, api):
    """Usernames are compared case-insensitively, which is validation, not a conflict."""
    response = api(world.org_admin).post(
        "/api/v1/users/",
        {
            "username": "ORG_VIEWER",
            "email": "x@example.com",
            "password": "a-Long-enough-passphrase-42",
            "tenant_type": "organization",
            "tenant_id": world.org.pk,
            "role": "viewer",
        },
    )
    body = assert_problem(response, 400)
    assert list(body["errors"]) == ["username"]


# --- the mapping of a constraint's violation, on this database ----------------------


def violation(make):
    """The IntegrityError that ``make()`` raises (in a savepoint, so the test goes on)."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        make()
    return caught.value


@pytest.mark.django_db
def test_unique_violations_are_recognised_by_constraint(world):
    found = {
        "organization": unique_violation(
            violation(lambda: Organization.objects.create(name="Org", partner=world.partner))
        ),
        "distributor": unique_violation(violation(lambda: Distributor.objects.create(name="Dist"))),
        "access point": unique_violation(
            violation(
                lambda: AccessPoint.objects.create(location=world.hotel, mac="02:00:00:00:00:01")
            )
        ),
        "room": unique_violation(
            violation(lambda: Room.objects.create(location=world.hotel, number="101"))
        ),
        "module (primary key)": unique_violation(
            violation(lambda: Module.objects.create(code="pms", name="x"))
        ),
        "user (unique column)": unique_violation(
            violation(lambda: get_user_model().objects.create(username="org_admin"))
        ),
    }
    assert found == {
        "organization": (Organization, ("partner", "name")),
        "distributor": (Distributor, ("name",)),
        "access point": (AccessPoint, ("mac",)),
        "room": (Room, ("location", "number")),
        "module (primary key)": (Module, ("code",)),
        "user (unique column)": (get_user_model(), ("username",)),
    }


@pytest.mark.django_db
def test_the_handler_turns_a_unique_violation_into_409_and_other_integrity_errors_stay_500(
    world,
):
    error = violation(lambda: Organization.objects.create(name="Org", partner=world.partner))
    response = exception_handler(error, {})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert list(body["errors"]) == ["name"]
    assert "already exists" in body["detail"]
    # a broken check constraint is a bug, not bad input: Django's 500
    user = get_user_model().objects.create_user(username="loose", password="x")
    broken = violation(
        lambda: Membership.objects.create(
            user=user, tenant_type="staff", role="admin", partner=world.partner
        )
    )
    assert unique_violation(broken) is None
    assert exception_handler(broken, {}) is None


# --- races: the constraint decides, the loser gets the same 409 ----------------------

WORKERS = 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers")
@pytest.mark.postgres_only
def test_parallel_creation_of_one_organization_one_201_the_others_409(world, live_server):
    token = token_for(world.partner_admin)
    url = f"{live_server.url}/api/v1/organizations/"

    def post():
        return post_json(url, token, {"name": "Mercado Central", "email": "m@example.com"})

    outcomes = race(post, [()] * WORKERS)
    statuses = sorted(status for status, _body in outcomes)
    assert statuses == [201] + [409] * (WORKERS - 1), outcomes
    assert all(list(body["errors"]) == ["name"] for status, body in outcomes if status == 409), (
        outcomes
    )
    assert Organization.objects.filter(name="Mercado Central").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers")
@pytest.mark.postgres_only
def test_parallel_renames_to_one_name_one_wins_the_others_conflict(world):
    organizations = [
        Organization.objects.create(name=f"Org {i}", partner=world.partner) for i in range(WORKERS)
    ]

    def rename(organization):
        return tenancy_services.update_tenant(world.partner_admin, organization, name="Same")

    outcomes = race(rename, [(organization,) for organization in organizations])
    assert sum(isinstance(o, Organization) for o in outcomes) == 1, outcomes
    losers = [o for o in outcomes if not isinstance(o, Organization)]
    assert all(isinstance(o, Conflict) and list(o.errors) == ["name"] for o in losers), outcomes
    assert Organization.objects.filter(name="Same").count() == 1
