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
    from wlm.connections import installers
    from wlm.locations import services as locations

    request, unused, in_use = _licenses(world)
    locations.start_installation(world.staff, world.shop, until=None)  # to switch off
    device = installers.add_installer_device(world.staff, world.partner, mac="02:1a:00:00:00:01")
    renewal = services.request_renewal(world.org_admin, in_use, 1)
    upgrade = services.request_upgrade(world.partner_admin, in_use, aps=8)
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
        "change user role": (
            "post",
            f"/api/v1/users/{world.org_viewer.pk}/role/",
            {"role": "admin"},
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "deactivate user": (
            "post",
            f"/api/v1/users/{world.org_viewer.pk}/deactivate/",
            {},
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
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
        "read renewal request": (
            "get",
            f"/api/v1/license-requests/{renewal.pk}/",
            None,
            "org_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "approve renewal request": (
            "post",
            f"/api/v1/license-requests/{renewal.pk}/approve/",
            {},
            "dist_admin",
            "dist_viewer",
            "other_dist_admin",
        ),
        "reject upgrade request": (
            "post",
            f"/api/v1/license-requests/{upgrade.pk}/reject/",
            {"reason": "not this year"},
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
        "read installation": (
            "get",
            f"{hotel}/installation/",
            None,
            "org_admin",
            "dist_viewer",
            "other_org_admin",
        ),
        "switch installation on": (
            "post",
            f"{hotel}/installation/",
            {"until": None},
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "switch installation off": (
            "delete",
            f"/api/v1/locations/{world.shop.pk}/installation/",
            None,
            "org_admin",
            "org_viewer",
            "other_org_admin",
        ),
        "read installer device": (
            "get",
            f"/api/v1/installer-devices/{device.pk}/",
            None,
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
        ),
        "remove installer device": (
            "delete",
            f"/api/v1/installer-devices/{device.pk}/",
            None,
            "partner_admin",
            "partner_viewer",
            "other_partner_admin",
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
    "change user role",
    "deactivate user",
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
    "read renewal request",
    "approve renewal request",
    "reject upgrade request",
    "read license",
    "license certificate",
    "deny license",
    "renew license",
    "upgrade license",
    "cancel license",
    "assign location",
    "send key",
    "read notification",
    "read installation",
    "switch installation on",
    "switch installation off",
    "read installer device",
    "remove installer device",
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
    ("kind", "body", "owner", "viewer", "outsider"),
    [
        ("renewal", {"years": 1}, "org_admin", "org_viewer", "other_org_admin"),
        ("upgrade", {"aps": 9}, "partner_admin", "partner_viewer", "other_partner_admin"),
    ],
)
def test_asking_for_a_change_of_a_license(world, api, client, kind, body, owner, viewer, outsider):
    """``POST /license-requests/`` naming a license, and its page
    ``/requests/<kind>/<license>/``: the license's partner's and organization's admins
    ask (201, the form 200); their viewers are refused (403); another tenant does not
    see the license — the API's 400 on ``license`` as for a missing id (the request is
    new: there is no row to answer 404 for), the page's 404 —; the anonymous caller
    must log in. Nothing is stored on a refusal."""
    from wlm.licenses.models import LicenseRequest

    _request, _unused, in_use = _licenses(world)
    payload = {"license": in_use.pk, "kind": kind, **body}
    url, page = "/api/v1/license-requests/", f"/requests/{kind}/{in_use.pk}/"

    def call(user):
        return api(getattr(world, user) if user else None).post(url, payload, format="json")

    before = LicenseRequest.objects.count()
    assert call(None).status_code == 401
    outside = call(outsider)
    assert outside.status_code == 400 and set(outside.json()["errors"]) == {"license"}
    assert call(viewer).status_code == 403
    assert LicenseRequest.objects.count() == before
    anonymous = client.get(page)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for user, status in ((outsider, 404), (viewer, 403), (owner, 200)):
        client.force_login(getattr(world, user))
        assert client.get(page).status_code == status, user
    assert call(owner).status_code == 201
    assert LicenseRequest.objects.count() == before + 1


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
        "/api/v1/licenses/bulk/",
        "/api/v1/installer-devices/",
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


# The operators' endpoints are answered by the lean path before Django
# (wlm.operations.endpoints): no URL pattern, so the URL walk does not see them. The
# probes are public; /metrics is for METRICS_ALLOW's addresses or METRICS_TOKEN only.
OPERATORS = {"/healthz": "public", "/readyz": "public", "/metrics": "protected"}


@pytest.mark.parametrize(("path", "access"), OPERATORS.items())
def test_the_operators_endpoints_before_django(world, path, access):
    """From another machine, anonymous or with any role's API token: the probes answer
    (503 is an answer: no notifier here), /metrics is refused to everyone."""
    from django.core.wsgi import get_wsgi_application
    from django.test import RequestFactory
    from django.urls import Resolver404, resolve

    from wlm.conftest import token_for
    from wlm.connections.accounting import Buffer
    from wlm.dataplane.front import DataPlaneFront
    from wlm.dataplane.tests.test_front import served

    with pytest.raises(Resolver404):
        resolve(path)
    front = DataPlaneFront(get_wsgi_application(), buffer=Buffer(writer=False))
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    callers = [{}] + [
        {"HTTP_AUTHORIZATION": f"Token {token_for(getattr(world, person))}"}
        for person in ("staff", "gateway", "dist_admin", "org_admin")
    ]
    for caller in callers:
        status, headers, _body = served(
            front, RequestFactory().get(path, **elsewhere, **caller).environ
        )
        if access == "public":
            assert status in (200, 503)
        else:
            assert status == 403
            assert headers["content-type"] == "application/problem+json"


def test_bulk_changes_and_their_jobs(world, api):
    """``POST /licenses/bulk/`` (docs/lifecycle.md, "Bulk changes"): the owner's role works
    (202), a viewer is refused (403), an outsider's ids are licenses it does not see (a
    400 naming ``ids``: nothing stored), the anonymous caller must log in (401). A job
    and its results are its owner's: any other tenant's user gets 404 (the list of jobs
    is empty for them), the gateway 403; staff, who see every license, read every job.
    The jobs page (``/licenses/bulk/jobs/``) lists the same jobs."""
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
        for person in ("dist_viewer", "other_dist_admin", "org_admin"):
            assert api(getattr(world, person)).get(path).status_code == 404, person
        assert api(world.gateway).get(path).status_code == 403
        for person in ("dist_admin", "staff", "staff_viewer"):
            assert api(getattr(world, person)).get(path).status_code == 200, person
    assert api().get(url).status_code == 401
    assert api(world.gateway).get(url).status_code == 403
    for person, seen in (
        ("dist_admin", [job]),
        ("staff_viewer", [job]),
        ("dist_viewer", []),
        ("other_dist_admin", []),
        ("org_admin", []),
    ):
        listed = api(getattr(world, person)).get(url)
        assert [row["id"] for row in listed.json()["results"]] == seen, person


def test_the_bulk_jobs_page_lists_only_what_one_may_read(client, world):
    """``/licenses/bulk/jobs/``: the owner's jobs; staff's, everyone's; anonymous callers
    are sent to log in."""
    from wlm.licenses import bulk

    _request, _unused, in_use = _licenses(world)
    job = bulk.create_job(world.dist_admin, "renew", [in_use.pk], years=1)
    row = f'<tr data-id="{job.pk}"'
    page = "/licenses/bulk/jobs/"
    anonymous = client.get(page)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for person, shown in (
        ("dist_admin", True),
        ("staff", True),
        ("dist_viewer", False),
        ("other_dist_admin", False),
        ("partner_admin", False),
        ("org_admin", False),
    ):
        client.force_login(getattr(world, person))
        response = client.get(page)
        assert response.status_code == 200, person
        assert (row in response.content.decode()) is shown, person


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


@pytest.mark.parametrize(
    ("tenant", "owners", "viewer", "outsider"),
    [
        ("dist", ("dist_admin", "staff", "staff_viewer"), "dist_viewer", "other_dist_admin"),
        (
            "partner",
            ("partner_admin", "dist_admin", "staff"),
            "partner_viewer",
            "other_partner_admin",
        ),
        (
            "org",
            ("org_admin", "partner_admin", "dist_admin", "staff"),
            "org_viewer",
            "other_org_admin",
        ),
    ],
)
def test_the_audit_log(world, api, client, tenant, owners, viewer, outsider):
    """``/api/v1/audit/{id}/`` and ``/audit/`` (docs/audit.md): a tenant's admins and
    those above it read its entry, staff every entry; a viewer is refused the log (403),
    the gateway too; another tenant's admin does not see the entry (404); the anonymous
    caller must log in. Nobody writes it."""
    from wlm.audit import services as audit
    from wlm.audit.models import Kind

    entry = audit.record(
        Kind.TENANT_SETTINGS_CHANGED,
        obj=getattr(world, tenant),
        tenant=getattr(world, tenant),
        actor=world.staff,
    )
    url = f"/api/v1/audit/{entry.pk}/"
    assert api().get(url).status_code == 401
    assert api(getattr(world, outsider)).get(url).status_code == 404
    for person in (viewer, "gateway"):
        assert api(getattr(world, person)).get(url).status_code == 403, person
        assert api(getattr(world, person)).get("/api/v1/audit/").status_code == 403, person
        client.force_login(getattr(world, person))
        assert client.get("/audit/").status_code == 403, person
    for person in owners:
        assert api(getattr(world, person)).get(url).status_code == 200, person
        client.force_login(getattr(world, person))
        assert f'data-id="{entry.pk}"' in client.get("/audit/").content.decode(), person
    for method in ("post", "put", "patch", "delete"):
        answer = getattr(api(world.staff), method)(url, {}, format="json")
        assert answer.status_code == 405, method
    client.logout()
    assert client.get("/audit/").status_code == 302


# --- API tokens (wlm/tenancy/tokens.py): scopes on every endpoint, and whose token is whose


def _read_client(user):
    from rest_framework.test import APIClient

    from wlm.conftest import token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user, scope='read')}")
    return client


def _problem_type(response) -> str:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()["type"].rsplit("/", 1)[-1]


CHANGES = [name for name in CASES if not name.startswith(("read", "list", "license certificate"))]


@pytest.mark.parametrize("name", CHANGES)
def test_the_owners_read_token_changes_nothing(world, name):
    """Each change of the matrix, by its owner with a ``read`` token: 403, nothing done."""
    from wlm.tests.test_bad_input import snapshot

    method, url, payload, owner, _viewer, _outsider = case(world, name)
    assert method != "get"
    client = _read_client(getattr(world, owner))
    before = snapshot()
    refused = getattr(client, method)(url, payload, format="json")
    assert refused.status_code == 403, refused.content
    assert _problem_type(refused) == "read-only-token"
    assert snapshot() == before


def _api_routes():
    from wlm.tests.test_url_guard import PUBLIC, _concrete, routes

    return [
        route
        for route in routes()
        if route.startswith("api/v1/") and _concrete(route).lstrip("/") not in PUBLIC
    ]


@pytest.mark.parametrize("route", _api_routes())
def test_a_read_token_cannot_write_on_any_endpoint(world, route):
    """Every API route (the URL walk's), every unsafe method, with a ``read`` token of a
    staff superuser and of the gateway (who between them may call every endpoint): 403
    from the token's scope, before any permission or row is looked at."""
    from wlm.conftest import make_user
    from wlm.tenancy.models import TenantType
    from wlm.tests.test_bad_input import snapshot
    from wlm.tests.test_url_guard import _concrete

    root = make_user("root", TenantType.STAFF)
    root.is_staff = root.is_superuser = True
    root.save(update_fields=["is_staff", "is_superuser"])
    url = _concrete(route)
    before = snapshot()
    for user in (root, world.gateway):
        client = _read_client(user)
        for method in ("post", "put", "patch", "delete"):
            refused = getattr(client, method)(url, {}, format="json")
            assert refused.status_code == 403, (user, method, url, refused.content)
            assert _problem_type(refused) == "read-only-token", (method, url)
    assert snapshot() == before


# who reads and revokes org_viewer's token: (read status, revoke status); revoking is
# tried last, by the one who may
TOKEN_CALLERS = [
    (None, 401, 401),
    ("other_org_admin", 404, 404),
    ("other_partner_admin", 404, 404),
    ("dist_admin", 404, 404),  # a distributor manages its own users only
    ("org_admin", 200, 200),  # the tenant's admin manages its users
    ("partner_admin", 200, 200),  # and the partner its organizations' users
    ("staff_viewer", 200, 403),  # staff see every token; a viewer revokes none but theirs
    ("gateway", 404, 404),
    ("staff", 200, 200),
    ("org_viewer", 200, 200),  # the owner
]


@pytest.mark.parametrize(("caller", "reads", "revokes"), TOKEN_CALLERS)
def test_whose_tokens_a_caller_reads_and_revokes(world, api, caller, reads, revokes):
    """``/api/v1/tokens/{id}/`` (GET, DELETE, POST …/revoke/) and the page's
    ``/tokens/{id}/revoke/``, for a viewer's token."""
    from django.test import Client

    from wlm.tenancy import tokens
    from wlm.tenancy.models import ApiToken

    token = tokens.issue(world.org_viewer, "viewer's")[0]
    client = api(getattr(world, caller) if caller else None)
    assert client.get(f"/api/v1/tokens/{token.pk}/").status_code == reads
    page = Client()
    if caller:
        page.force_login(getattr(world, caller))
    shown = page.get(f"/tokens/{token.pk}/revoke/")
    assert shown.status_code == {401: 302, 200: 200}.get(revokes, revokes)
    deleted = client.delete(f"/api/v1/tokens/{token.pk}/")
    posted = page.post(f"/tokens/{token.pk}/revoke/")
    if revokes == 200:
        assert deleted.status_code == 204
        assert posted.status_code == 302 and posted["Location"] == "/tokens/"
        assert ApiToken.objects.get(pk=token.pk).revoked is not None
    else:
        assert deleted.status_code == revokes
        assert posted.status_code == {401: 302}.get(revokes, revokes)
        assert client.post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == revokes
        assert ApiToken.objects.get(pk=token.pk).revoked is None


# --- The tenant's settings page (docs/settings.md) ---------------------------------------
SETTINGS_ACCESS = {
    # person: (GET the organization's page, each POST of it)
    "org_admin": (200, "allowed"),
    "staff": (200, "allowed"),
    "org_viewer": (200, 403),
    "staff_viewer": (200, 403),
    "partner_admin": (404, 404),  # above it: its own settings only
    "partner_viewer": (404, 404),
    "dist_admin": (404, 404),
    "dist_viewer": (404, 404),
    "other_dist_admin": (404, 404),
    "other_partner_admin": (404, 404),
    "other_org_admin": (404, 404),
    "gateway": (403, 403),
}


def test_the_settings_page_for_every_role(client, world):
    """``/settings/<type>/<id>/`` and its POSTs (changes, webhook-secret/, test/): the
    tenant's admins and staff admins change; viewers read and are refused (403); any
    other tenant finds nothing (404); the gateway is refused; anonymous callers are sent
    to log in. Every person of ``world`` is in the table."""
    from wlm.tenancy.models import Organization

    assert set(SETTINGS_ACCESS) == set(vars(world.people))
    page = f"/settings/organization/{world.org.pk}/"
    posts = {
        page: {"email": "org@example.com", "webhook_url": "", "language": "en"},
        f"{page}webhook-secret/": {},
        f"{page}test/": {"channel": "nothing"},  # judged after the role: 400, nothing sent
    }
    secret = world.org.webhook_secret
    for person, (reads, writes) in SETTINGS_ACCESS.items():
        client.force_login(getattr(world, person))
        assert client.get(page).status_code == reads, person
        if writes == "allowed":
            continue
        for target, data in posts.items():
            assert client.post(target, data).status_code == writes, (person, target)
    assert Organization.objects.get(pk=world.org.pk).webhook_secret == secret
    client.logout()
    for target in (page, *posts):
        answer = client.post(target, {})
        assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


# --- the users page (/users/; docs/pages.md, "Users"): every role ------------------------
# who opens /users/ and changes org_viewer there: (list status, change status)
USERS_PAGE = [
    ("staff", 200, 302),
    ("staff_viewer", 403, 403),
    ("gateway", 403, 403),
    ("dist_admin", 200, 404),  # a distributor manages its own users only
    ("dist_viewer", 403, 403),
    ("other_dist_admin", 200, 404),
    ("partner_admin", 200, 302),  # the partner its organizations' users too
    ("partner_viewer", 403, 403),
    ("other_partner_admin", 200, 404),
    ("org_admin", 200, 302),
    ("org_viewer", 403, 403),
    ("other_org_admin", 200, 404),
]


@pytest.mark.parametrize(("person", "lists", "changes"), USERS_PAGE)
def test_the_users_page_for_every_role(world, client, person, lists, changes):
    """``/users/``, ``/users/{id}/role/`` and ``/users/{id}/deactivate/``: admins (staff
    admins: every tenant's users), viewers and the gateway 403, another tenant's user 404,
    the anonymous visitor to the login page."""
    from django.contrib.auth import get_user_model

    from wlm.tenancy.models import Membership

    target = world.org_viewer.pk
    assert client.get("/users/").status_code == 302
    assert client.post(f"/users/{target}/deactivate/").status_code == 302
    client.force_login(getattr(world, person))
    assert client.get("/users/").status_code == lists
    assert client.get(f"/users/{target}/deactivate/").status_code == {302: 200}.get(
        changes, changes
    )
    assert client.post(f"/users/{target}/role/", {"role": "admin"}).status_code == changes
    assert client.post(f"/users/{target}/deactivate/").status_code == changes
    changed = changes == 302
    assert (Membership.objects.get(user_id=target).role == "admin") is changed
    assert get_user_model().objects.get(pk=target).is_active is not changed
