"""Every endpoint, four callers: the owner works, the viewer is refused (403), the
outsider does not see the row (404), and the anonymous caller must log in (401)."""

import pytest

from wlm.locations.models import AccessPoint, Room

pytestmark = pytest.mark.django_db


def case(world, name):
    """(method, url, payload, owner, viewer, outsider) for one endpoint."""
    ap = AccessPoint.objects.get(location=world.hotel)
    room = Room.objects.get(location=world.hotel)
    hotel = f"/api/v1/locations/{world.hotel.pk}"
    return {
        "read distributor": (
            "get",
            f"/api/v1/distributors/{world.dist.pk}/",
            None,
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "edit distributor": (
            "patch",
            f"/api/v1/distributors/{world.dist.pk}/",
            {"email": "d@x.com"},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "read partner": (
            "get",
            f"/api/v1/partners/{world.partner.pk}/",
            None,
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "edit partner": (
            "patch",
            f"/api/v1/partners/{world.partner.pk}/",
            {"email": "p@x.com"},
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "read organization": (
            "get",
            f"/api/v1/organizations/{world.org.pk}/",
            None,
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "edit organization": (
            "patch",
            f"/api/v1/organizations/{world.org.pk}/",
            {"email": "o@x.com"},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "read user": (
            "get",
            f"/api/v1/users/{world.org_viewer.pk}/",
            None,
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "read location": ("get", f"{hotel}/", None, "org_admin", "org_viewer", "other_org_admin"),
        "edit location": (
            "patch",
            f"{hotel}/",
            {"address": "New 1"},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "list access points": (
            "get",
            f"{hotel}/access-points/",
            None,
            "org_admin",
            "org_viewer",
            "other_partner_admin",
        ),
        "add access point": (
            "post",
            f"{hotel}/access-points/",
            {"mac": "0a0b0c0d0e0f"},
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "remove access point": (
            "delete",
            f"{hotel}/access-points/{ap.pk}/",
            None,
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "list rooms": (
            "get",
            f"{hotel}/rooms/",
            None,
            "org_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "add room": (
            "post",
            f"{hotel}/rooms/",
            {"number": "909"},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "remove room": (
            "delete",
            f"{hotel}/rooms/{room.pk}/",
            None,
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
    }[name]


CASES = [
    "read distributor",
    "edit distributor",
    "read partner",
    "edit partner",
    "read organization",
    "edit organization",
    "read user",
    "read location",
    "edit location",
    "list access points",
    "add access point",
    "remove access point",
    "list rooms",
    "add room",
    "remove room",
]


@pytest.mark.parametrize("name", CASES)
def test_owner_viewer_outsider_anonymous(world, api, name):
    method, url, payload, owner, viewer, outsider = case(world, name)

    def call(user):
        client = api(getattr(world, user) if user else None)
        return getattr(client, method)(url, payload, format="json")

    anonymous = call(None)
    assert anonymous.status_code == 401
    outside = call(outsider)
    assert outside.status_code == 404, outside.content
    read_only = call(viewer)
    if method == "get":
        assert read_only.status_code == 200
    else:
        assert read_only.status_code == 403, read_only.content
    owned = call(owner)
    assert owned.status_code in (200, 201, 204), owned.content


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/distributors/",
        "/api/v1/partners/",
        "/api/v1/organizations/",
        "/api/v1/users/",
        "/api/v1/modules/",
        "/api/v1/locations/",
    ],
)
def test_lists_need_login(world, api, path):
    assert api().get(path).status_code == 401
    assert api(world.org_viewer).get(path).status_code == 200
