"""Every endpoint, four callers: the owner works, the viewer is refused (403), the
outsider does not see the row (404), and the anonymous caller must log in (401)."""

import pytest
import time_machine

from wlm.lib import clock
from wlm.licenses import lifecycle, services
from wlm.locations.models import AccessPoint, Room
from wlm.notifications import worker
from wlm.notifications.models import Channel, Delivery

pytestmark = pytest.mark.django_db


def _licenses(world):
    """A pending request, an unused license (hotel) and one in use (shop)."""
    hotel = services.Terms(
        location=world.hotel, distributor=world.dist, years=2, payment="annual", rooms=10
    )
    shop = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="monthly", aps=5
    )
    request = services.create_request(world.partner_admin, shop)
    unused = services.create_license(world.staff, hotel)
    in_use = services.create_license(world.staff, shop)
    lifecycle.provision(world.org_admin, world.shop, in_use.key)
    lifecycle.start(in_use.pk, clock.today_in(world.shop.timezone))
    return request, unused, in_use


def case(world, name):
    """(method, url, payload, owner, viewer, outsider) for one endpoint."""
    request, unused, in_use = _licenses(world)
    used = f"/api/v1/licenses/{in_use.pk}"
    ap = AccessPoint.objects.get(location=world.hotel)
    room = Room.objects.get(location=world.hotel)
    hotel = f"/api/v1/locations/{world.hotel.pk}"
    notice = in_use.notices.order_by("due_at").first()
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
        "rotate distributor webhook secret": (
            "post",
            f"/api/v1/distributors/{world.dist.pk}/webhook-secret/",
            {},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "rotate partner webhook secret": (
            "post",
            f"/api/v1/partners/{world.partner.pk}/webhook-secret/",
            {},
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "rotate organization webhook secret": (
            "post",
            f"/api/v1/organizations/{world.org.pk}/webhook-secret/",
            {},
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
        # a tenant that sees the location reads it, another tenant's license masked
        # (wlm/licenses/tests/test_entitlement.py); the gateway reads every location
        "read entitlement": (
            "get",
            f"{hotel}/entitlement/",
            None,
            "org_admin",
            "dist_viewer",
            "other_org_admin",
        ),
        "read license request": (
            "get",
            f"/api/v1/license-requests/{request.pk}/",
            None,
            "partner_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "approve license request": (
            "post",
            f"/api/v1/license-requests/{request.pk}/approve/",
            {},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "reject license request": (
            "post",
            f"/api/v1/license-requests/{request.pk}/reject/",
            {"reason": "no stock"},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "read license": ("get", f"{used}/", None, "org_admin", "org_viewer", "other_org_admin"),
        "license certificate": (
            "get",
            f"{used}/pdf/",
            None,
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "deny license": (
            "post",
            f"{used}/deny/",
            {"reason": "unpaid"},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "renew license": (
            "post",
            f"{used}/renew/",
            {"years": 1},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "upgrade license": (
            "post",
            f"{used}/upgrade/",
            {"aps": 9},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "cancel license": (
            "post",
            f"/api/v1/licenses/{unused.pk}/cancel/",
            {"reason": "customer left"},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "assign location": (
            "post",
            f"{used}/assignments/",
            {"location": str(world.hotel.pk)},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "send key": (
            "post",
            f"{hotel}/activate/",
            {"key": unused.key},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "read notification": (
            "get",
            f"/api/v1/notifications/{notice.pk}/",
            None,
            "partner_admin",
            "org_viewer",
            "other_dist_admin",
        ),
    }[name]


CASES = [
    "read distributor",
    "edit distributor",
    "read partner",
    "edit partner",
    "read organization",
    "edit organization",
    "rotate distributor webhook secret",
    "rotate partner webhook secret",
    "rotate organization webhook secret",
    "read user",
    "read location",
    "edit location",
    "list access points",
    "add access point",
    "remove access point",
    "list rooms",
    "add room",
    "remove room",
    "read entitlement",
    "read license request",
    "approve license request",
    "reject license request",
    "read license",
    "license certificate",
    "deny license",
    "renew license",
    "upgrade license",
    "cancel license",
    "assign location",
    "send key",
    "read notification",
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
        "/api/v1/license-requests/",
        "/api/v1/licenses/",
        "/api/v1/notifications/",
        "/api/v1/inbox/",
    ],
)
def test_lists_need_login(world, api, path):
    assert api().get(path).status_code == 401
    assert api(world.org_viewer).get(path).status_code == 200


def test_inbox_item_only_its_user_reads_and_marks(world, api):
    """The inbox is personal: not a tenant's row, so no viewer/403 column; any other
    user, staff included, gets 404, and the gateway 403."""
    _request, _unused, in_use = _licenses(world)
    notice = in_use.notices.order_by("due_at").first()
    with time_machine.travel(notice.due_at, tick=False):
        worker.run_pass()
    item = Delivery.objects.get(notice=notice, channel=Channel.INBOX, user=world.org_admin)
    for url in (f"/api/v1/inbox/{item.pk}/", f"/api/v1/inbox/{item.pk}/read/"):
        method = "post" if url.endswith("/read/") else "get"

        def call(user, method=method, url=url):
            return getattr(api(user), method)(url)

        assert call(None).status_code == 401
        assert call(world.gateway).status_code == 403
        for person in ("staff", "org_viewer", "partner_admin", "other_org_admin"):
            assert call(getattr(world, person)).status_code == 404, (person, url)
        assert call(world.org_admin).status_code == 200, url


@pytest.mark.parametrize(
    ("path", "payload", "answer"),
    [
        ("/api/v1/connections/", {"events": []}, (200, "accepted", 0)),
        # the hotel's access point, no license there: FreeRADIUS's reject (a 401)
        (
            "/api/v1/radius/authorize/",
            {"called_station_id": "02-00-00-00-00-01:Guests"},
            (401, "reply:Reply-Message", "no_license"),
        ),
        ("/api/v1/radius/accounting/", {"status_type": "Stop"}, (204, None, None)),
    ],
)
def test_the_data_planes_endpoints_answer_only_the_gateway(world, api, path, payload, answer):
    """Not a tenant's row: every other role, staff and admins included, gets 403."""
    assert api().post(path, payload, format="json").status_code == 401
    for person in ("staff", "staff_viewer", "dist_admin", "partner_admin", "org_admin"):
        assert api(getattr(world, person)).post(path, payload, format="json").status_code == 403
    response = api(world.gateway).post(path, payload, format="json")
    status, name, value = answer
    assert response.status_code == status
    assert name is None or response.json()[name] == value


def test_bulk_changes_and_their_jobs(world, api):
    """``POST /licenses/bulk/`` (docs/lifecycle.md, "Bulk changes"): the owner's role works
    (202), a viewer is refused (403), an outsider's ids are licenses it does not see (a
    400 naming ``ids``: nothing stored), the anonymous caller must log in (401). A job
    and its results are personal, like the inbox: anyone but its owner gets 404, staff
    and the gateway too."""
    from wlm.licenses import bulk
    from wlm.licenses.models import BulkJob

    _request, _unused, in_use = _licenses(world)
    body = {"action": "renew", "ids": [in_use.pk], "years": 1}
    url = "/api/v1/licenses/bulk/"
    assert api().post(url, body, format="json").status_code == 401
    outside = api(world.other_dist_admin).post(url, body, format="json")
    assert outside.status_code == 400 and "ids" in outside.json()["errors"]
    assert api(world.dist_viewer).post(url, body, format="json").status_code == 403
    assert not BulkJob.objects.exists()
    owned = api(world.dist_admin).post(url, body, format="json")
    assert owned.status_code == 202, owned.content
    bulk.work()
    job = owned.json()["id"]
    for path in (f"{url}{job}/", f"{url}{job}/results/"):
        assert api().get(path).status_code == 401
        for person in ("staff", "dist_viewer", "other_dist_admin", "org_admin"):
            assert api(getattr(world, person)).get(path).status_code == 404, person
        assert api(world.gateway).get(path).status_code == 403
        assert api(world.dist_admin).get(path).status_code == 200


@pytest.mark.parametrize("list_url", ["/licenses/", "/locations/", "/requests/"])
def test_saved_views_answer_only_their_owner(client, world, list_url):
    """Saved views (pages only, POST with CSRF; docs/pages.md, "Lists and exports") are
    personal: the owner saves and deletes; every other user — the same tenant's viewer
    and admin, another tenant, staff — gets 404, like a missing view; anonymous callers
    are sent to log in. Nothing changes on a refusal."""
    from wlm.tenancy.models import SavedView

    client.force_login(world.partner_admin)
    assert client.post(f"{list_url}views/", {"name": "Mine", "query": ""}).status_code == 302
    view = SavedView.objects.get()
    delete = f"{list_url}views/{view.pk}/delete/"
    client.logout()
    anonymous = client.post(delete)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for person in ("partner_viewer", "dist_admin", "org_admin", "staff", "other_partner_admin"):
        client.force_login(getattr(world, person))
        assert client.post(delete).status_code == 404, person
    assert SavedView.objects.filter(pk=view.pk).exists()
    client.force_login(world.partner_admin)
    assert client.post(delete).status_code == 302
    assert not SavedView.objects.exists()
