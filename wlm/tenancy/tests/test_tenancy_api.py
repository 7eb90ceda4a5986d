"""Tenancy through the API: who lists, reads and changes which tenants and users."""

import pytest

from wlm.lib.pagination import CappedPaginator
from wlm.tenancy.models import Distributor, Membership, Organization, Partner

pytestmark = pytest.mark.django_db


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def names(response):
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", {"Dist", "Other Dist"}),
        ("staff_viewer", {"Dist", "Other Dist"}),
        ("dist_admin", {"Dist"}),
        ("partner_admin", {"Dist"}),
        ("org_viewer", {"Dist"}),
        ("other_org_admin", {"Other Dist"}),
    ],
)
def test_distributors_listed_by_tenant(world, api, person, expected):
    assert names(api(getattr(world, person)).get("/api/v1/distributors/")) == expected


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", {"Partner", "Other Partner"}),
        ("dist_admin", {"Partner"}),
        ("other_dist_admin", {"Other Partner"}),
        ("partner_viewer", {"Partner"}),
        ("org_admin", {"Partner"}),
    ],
)
def test_partners_listed_by_tenant(world, api, person, expected):
    assert names(api(getattr(world, person)).get("/api/v1/partners/")) == expected


def rows(response):
    assert response.status_code == 200, response.content
    body = response.json()
    return body["count"], sorted(row["name"] for row in body["results"])


def test_a_partner_is_listed_once_whatever_its_organizations(world, api):
    """The page is read by id after the filters ran: a filter that joins a to-many
    relation (a partner's organizations, its distributors) must not repeat the row."""
    Organization.objects.create(name="Org 2", partner=world.partner)
    Organization.objects.create(name="Org 3", partner=world.partner)
    world.partner.distributors.add(world.other_dist)
    world.other_partner.distributors.add(world.dist)

    assert rows(api(world.org_admin).get("/api/v1/partners/")) == (1, ["Partner"])
    staff = api(world.staff)
    assert rows(staff.get("/api/v1/partners/", {"distributors": world.dist.pk})) == (
        2,
        ["Other Partner", "Partner"],
    )
    assert rows(staff.get("/api/v1/partners/", {"name": "Partner"})) == (1, ["Partner"])
    assert rows(api(world.dist_admin).get("/api/v1/partners/")) == (
        2,
        ["Other Partner", "Partner"],
    )
    # any filter through a to-many join, without distinct(): still one row each
    joined = Partner.objects.filter(organizations__name="Org 2")
    assert [partner.name for partner in CappedPaginator(joined, 10).page(1)] == ["Partner"]


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", {"Org", "Other Org"}),
        ("dist_admin", {"Org"}),
        ("partner_admin", {"Org"}),
        ("org_viewer", {"Org"}),
        ("other_org_admin", {"Other Org"}),
    ],
)
def test_organizations_listed_by_tenant(world, api, person, expected):
    assert names(api(getattr(world, person)).get("/api/v1/organizations/")) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organizations/{other_org}/",
        "/api/v1/partners/{other_partner}/",
        "/api/v1/distributors/{other_dist}/",
    ],
)
def test_outsider_reads_other_tenant_as_not_found(world, api, path):
    url = path.format(
        other_org=world.other_org.pk,
        other_partner=world.other_partner.pk,
        other_dist=world.other_dist.pk,
    )
    response = api(world.partner_admin).get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    missing = api(world.partner_admin).get(url.replace(str(url.split("/")[-2]), "999999"))
    assert missing.json() == response.json()  # existence does not leak


def test_gateway_sees_no_tenant_data(world, api):
    client = api(world.gateway)
    for path in [
        "/api/v1/distributors/",
        "/api/v1/partners/",
        "/api/v1/organizations/",
        "/api/v1/users/",
        "/api/v1/locations/",
        "/api/v1/modules/",
    ]:
        assert client.get(path).status_code == 403, path


def test_staff_creates_distributor_and_partner(world, api):
    client = api(world.staff)
    response = client.post("/api/v1/distributors/", {"name": "New Dist", "email": "n@x.com"})
    assert response.status_code == 201, response.content
    new_id = response.json()["id"]
    response = client.post(
        "/api/v1/partners/",
        {"name": "New Partner", "email": "p@x.com", "distributors": [new_id, world.dist.pk]},
    )
    assert response.status_code == 201, response.content
    assert set(response.json()["distributors"]) == {new_id, world.dist.pk}


@pytest.mark.parametrize("person", ["dist_admin", "partner_admin", "org_admin"])
def test_only_staff_creates_distributors(world, api, person):
    response = api(getattr(world, person)).post("/api/v1/distributors/", {"name": "X"})
    assert response.status_code == 403
    assert not Distributor.objects.filter(name="X").exists()


def test_partner_needs_a_distributor(world, api):
    response = api(world.staff).post("/api/v1/partners/", {"name": "Lonely", "distributors": []})
    assert response.status_code == 400
    assert "distributors" in response.json()["errors"]
    assert not Partner.objects.filter(name="Lonely").exists()


def test_partner_admin_creates_own_organization(world, api):
    response = api(world.partner_admin).post("/api/v1/organizations/", {"name": "New Org"})
    assert response.status_code == 201, response.content
    assert Organization.objects.get(name="New Org").partner == world.partner


def test_partner_cannot_create_organization_for_another_partner(world, api):
    response = api(world.partner_admin).post(
        "/api/v1/organizations/", {"name": "Stolen", "partner": world.other_partner.pk}
    )
    assert response.status_code == 400
    assert "partner" in response.json()["errors"]
    assert not Organization.objects.filter(name="Stolen").exists()


def test_partner_viewer_cannot_create_organization(world, api):
    response = api(world.partner_viewer).post("/api/v1/organizations/", {"name": "Nope"})
    assert response.status_code == 403
    assert not Organization.objects.filter(name="Nope").exists()


def test_distributor_admin_edits_own_contacts_only(world, api):
    client = api(world.dist_admin)
    response = client.patch(f"/api/v1/distributors/{world.dist.pk}/", {"email": "new@dist.com"})
    assert response.status_code == 200, response.content
    world.dist.refresh_from_db()
    assert world.dist.email == "new@dist.com"
    response = client.patch(f"/api/v1/distributors/{world.other_dist.pk}/", {"email": "x@y.com"})
    assert response.status_code == 404
    world.other_dist.refresh_from_db()
    assert world.other_dist.email == "other@example.com"


def test_distributor_cannot_edit_visible_partner(world, api):
    response = api(world.dist_admin).patch(
        f"/api/v1/partners/{world.partner.pk}/", {"name": "Renamed"}
    )
    assert response.status_code == 403
    world.partner.refresh_from_db()
    assert world.partner.name == "Partner"


def test_organization_never_moves_to_another_partner(world, api):
    response = api(world.staff).patch(
        f"/api/v1/organizations/{world.org.pk}/", {"partner": world.other_partner.pk}
    )
    assert response.status_code == 400
    world.org.refresh_from_db()
    assert world.org.partner == world.partner


def test_the_admin_never_moves_an_organization_to_another_partner(world, client):
    """The partner is read-only once the organization exists: its licenses' partner is
    its own (the partner's scope, LicenseQuerySet)."""
    world.staff.is_staff = world.staff.is_superuser = True
    world.staff.save()
    client.force_login(world.staff)
    url = f"/admin/tenancy/organization/{world.org.pk}/change/"
    assert "partner" not in client.get(url).context["adminform"].form.fields
    body = {"name": world.org.name, "email": world.org.email, "language": world.org.language}
    response = client.post(url, {**body, "partner": world.other_partner.pk})
    assert response.status_code == 302, response.content
    world.org.refresh_from_db()
    assert world.org.partner == world.partner


# --- users -------------------------------------------------------------------


def test_users_listed_by_tenant(world, api):
    usernames = lambda r: {row["username"] for row in r.json()["results"]}  # noqa: E731
    assert usernames(api(world.org_viewer).get("/api/v1/users/")) == {"org_admin", "org_viewer"}
    assert usernames(api(world.partner_admin).get("/api/v1/users/")) == {
        "partner_admin",
        "partner_viewer",
        "org_admin",
        "org_viewer",
    }
    assert usernames(api(world.dist_admin).get("/api/v1/users/")) == {"dist_admin", "dist_viewer"}
    assert "gateway" in usernames(api(world.staff).get("/api/v1/users/?page_size=100"))


def test_user_row_shows_tenant_and_role(world, api):
    response = api(world.org_admin).get(f"/api/v1/users/{world.org_viewer.pk}/")
    assert response.json() == {
        "id": world.org_viewer.pk,
        "username": "org_viewer",
        "email": "org_viewer@example.com",
        "tenant_type": "organization",
        "tenant_id": world.org.pk,
        "role": "viewer",
        "language": "en",
        "is_active": True,
        "invitation_pending": False,
    }


def new_user(**overrides):
    data = {
        "username": "newbie",
        "email": "newbie@example.com",
        "password": "a-Long-enough-passphrase-42",
        "role": "viewer",
    }
    data.update(overrides)
    return data


def test_partner_admin_creates_user_for_its_organization(world, api):
    response = api(world.partner_admin).post(
        "/api/v1/users/", new_user(tenant_type="organization", tenant_id=world.org.pk)
    )
    assert response.status_code == 201, response.content
    assert "password" not in response.json()
    membership = Membership.objects.get(user__username="newbie")
    assert (membership.organization, membership.role) == (world.org, "viewer")
    assert (
        api()
        .post(
            "/api/v1/auth/token/", {"username": "newbie", "password": "a-Long-enough-passphrase-42"}
        )
        .status_code
        == 200
    )


@pytest.mark.parametrize(
    ("person", "tenant_type", "tenant"),
    [
        ("partner_admin", "organization", "other_org"),
        ("partner_admin", "distributor", "dist"),  # visible, but not its own
        ("org_admin", "partner", "partner"),
        ("dist_admin", "organization", "org"),
    ],
)
def test_admin_cannot_create_users_outside_its_tenants(world, api, person, tenant_type, tenant):
    response = api(getattr(world, person)).post(
        "/api/v1/users/", new_user(tenant_type=tenant_type, tenant_id=getattr(world, tenant).pk)
    )
    assert response.status_code in (400, 403), response.content
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_only_staff_create_staff_and_gateway_users(world, api):
    response = api(world.partner_admin).post(
        "/api/v1/users/", new_user(tenant_type="staff", role="gateway")
    )
    assert response.status_code == 403
    response = api(world.staff).post(
        "/api/v1/users/", new_user(tenant_type="staff", role="gateway")
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "gateway"


def test_gateway_role_is_only_for_staff(world, api):
    response = api(world.staff).post(
        "/api/v1/users/",
        new_user(tenant_type="organization", tenant_id=world.org.pk, role="gateway"),
    )
    assert response.status_code == 400
    assert "role" in response.json()["errors"]


def test_weak_password_and_taken_username_refused(world, api):
    client = api(world.org_admin)
    response = client.post(
        "/api/v1/users/",
        new_user(tenant_type="organization", tenant_id=world.org.pk, password="123"),
    )
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    response = client.post(
        "/api/v1/users/",
        new_user(username="ORG_VIEWER", tenant_type="organization", tenant_id=world.org.pk),
    )
    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_viewer_cannot_create_users(world, api):
    response = api(world.org_viewer).post(
        "/api/v1/users/", new_user(tenant_type="organization", tenant_id=world.org.pk)
    )
    assert response.status_code == 403
