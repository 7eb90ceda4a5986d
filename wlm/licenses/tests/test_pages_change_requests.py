"""The pages of requests for an existing license (docs/pages.md, "License view" and
"Requests for an existing license"): the license view's Request renewal / Request change
buttons for those who ask, the request form for a license, the pending request on the
license view, the queue's Kind column and filter, and the distributor's approval and
rejection of a change."""

import datetime as dt
import re

import pytest
import time_machine

from wlm.licenses import lifecycle, services
from wlm.licenses.models import (
    EventKind,
    License,
    LicenseEvent,
    LicenseRequest,
    LicenseStatus,
    Module,
    RequestState,
)
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Room

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC)
ROW = re.compile(r'<tr data-id="(\d+)"[^>]*data-kind="(\w+)"')


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def page(client, user, url, data=None):
    client.force_login(user)
    return client.get(url, data or {})


def html(response, status=200) -> str:
    assert response.status_code == status, response.content[:800]
    return response.content.decode()


def buttons(client, user, license) -> list[str]:
    """The Request buttons of the license view, by kind."""
    return re.findall(r'data-ask="(\w+)"', html(page(client, user, f"/licenses/{license.pk}/")))


def stored() -> tuple:
    return (
        list(LicenseRequest.objects.order_by("pk").values_list("pk", "state")),
        list(License.objects.order_by("pk").values_list("pk", "status", "end_date", "limit")),
        LicenseEvent.objects.count(),
    )


# --- the license view -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (S.IN_USE, ["renewal", "upgrade"]),
        (S.ACCESS_DENIED, ["renewal", "upgrade"]),
        (S.PENDING_START, ["upgrade"]),
        (S.CONTRACT_FINALIZED, ["renewal"]),
    ],
)
@pytest.mark.parametrize("who", ["partner_admin", "org_admin"])
def test_the_license_view_offers_the_requests_the_status_allows(client, world, who, status, shown):
    license = make_license(
        world, status, before_denial=S.IN_USE if status == S.ACCESS_DENIED else ""
    )
    assert buttons(client, getattr(world, who), license) == shown


@pytest.mark.parametrize(
    "who", ["partner_viewer", "org_viewer", "dist_admin", "dist_viewer", "staff", "staff_viewer"]
)
def test_no_request_buttons_for_viewers_nor_for_those_who_change_it_themselves(client, world, who):
    """Viewers do not ask; the distributor and staff renew and upgrade (their own
    buttons) instead of asking."""
    license = make_license(world, S.IN_USE)
    assert buttons(client, getattr(world, who), license) == []


def test_a_license_not_started_offers_no_renewal_and_one_cancelled_nothing(client, world):
    unsent = make_license(world, S.PENDING_PROVISION)
    assert buttons(client, world.partner_admin, unsent) == ["upgrade"]
    lifecycle.cancel(world.dist_admin, unsent.pk, "twice")
    assert buttons(client, world.partner_admin, unsent) == []


def test_a_pending_request_shows_on_the_license_view_for_all_who_see_it(client, world):
    license = make_license(world, S.IN_USE)
    renewal = services.request_renewal(world.org_admin, license, 2)
    for who in ("partner_admin", "org_admin", "org_viewer", "dist_viewer"):
        text = html(page(client, getattr(world, who), f"/licenses/{license.pk}/"))
        assert f'<li class="license-note" data-id="{renewal.pk}" data-kind="renewal">' in text
        assert "Renewal requested on 2027-03-10, waiting for Dist:" in text, who
        assert "Renewal by 2 years" in text
    # its button gives way to it; the other kind may still be asked for
    assert buttons(client, world.partner_admin, license) == ["upgrade"]
    # the distributor decides from here too
    text = html(page(client, world.dist_admin, f"/licenses/{license.pk}/"))
    assert f'href="/requests/{renewal.pk}/approve/"' in text
    assert f'href="/requests/{renewal.pk}/reject/"' in text
    assert "/approve/" not in html(page(client, world.partner_admin, f"/licenses/{license.pk}/"))


def test_an_upgrade_request_says_what_it_changes_on_the_license_view(client, world):
    license = make_license(world, S.IN_USE)
    license.modules.add(Module.objects.get(code="pms"))
    services.request_upgrade(
        world.partner_admin,
        license,
        rooms=25,
        add_modules=[Module.objects.get(code="analytics")],
        remove_modules=[Module.objects.get(code="pms")],
    )
    text = html(page(client, world.org_admin, f"/licenses/{license.pk}/"))
    assert "Upgrade requested on" in text and "Limit: 25 rooms" in text
    assert "Add modules: Analytics" in text and "Remove modules: PMS" in text


# --- the request form -------------------------------------------------------------------


def test_asking_for_a_renewal_from_the_form(client, world):
    license = make_license(world, S.IN_USE)
    url = f"/requests/renewal/{license.pk}/"
    text = html(page(client, world.partner_admin, url, {"years": "2"}))
    assert 'data-testid="change-request-form"' in text and license.key in text
    assert '<option value="2" selected>' in text  # prefilled by the link
    assert 'name="reason"' not in text  # a request has no reason of its own
    response = client.post(url, {"years": "2"})
    assert response.status_code == 302 and response["Location"] == f"/licenses/{license.pk}/"
    request = LicenseRequest.objects.get()
    assert (request.kind, request.years, request.license_id) == ("renewal", 2, license.pk)
    assert "Request sent to Dist." in html(client.get(response["Location"]))


def test_asking_for_a_change_from_the_form(client, world):
    license = make_license(world, S.IN_USE)
    url = f"/requests/upgrade/{license.pk}/"
    text = html(page(client, world.org_admin, url))
    assert 'name="rooms"' in text and 'name="aps"' not in text  # the license's type
    assert 'value="10"' in text  # its limit now
    response = client.post(url, {"rooms": "14", "add_modules": ["analytics"]})
    assert response.status_code == 302
    request = LicenseRequest.objects.get()
    assert (request.kind, request.rooms) == ("upgrade", 14)
    assert [m.code for m in request.add_modules.all()] == ["analytics"]


def test_a_form_the_rules_refuse_says_why_and_stores_nothing(client, world):
    license = make_license(world, S.IN_USE)
    Room.objects.bulk_create(Room(location=world.hotel, number=f"2{i:02d}") for i in range(4))
    url = f"/requests/upgrade/{license.pk}/"
    client.force_login(world.partner_admin)
    before = stored()
    low = client.post(url, {"rooms": "3"})
    assert f"License {license.key} allows 3 rooms; 5 would be in use." in html(low, 400)
    nothing = client.post(url, {"rooms": "10"})
    assert "Nothing to change." in html(nothing, 400)
    assert stored() == before


def test_the_form_says_beforehand_why_it_would_be_refused(client, world):
    license = make_license(world, S.IN_USE)
    pending = services.request_renewal(world.partner_admin, license, 1)
    text = html(page(client, world.org_admin, f"/requests/renewal/{license.pk}/"))
    assert f"already requested (request {pending.pk})" in text
    assert 'data-testid="change-refusal"' in text and ">Send request</button>" not in text
    unstarted = make_license(world, S.PENDING_START)
    text = html(page(client, world.org_admin, f"/requests/renewal/{unstarted.pk}/"))
    assert "Cannot renew a license that is Pending Start." in text


@pytest.mark.parametrize(("kind", "action"), [("renewal", "renew"), ("upgrade", "upgrade")])
def test_the_distributor_following_the_link_gets_its_own_form(client, world, kind, action):
    """A notice's link reaches the distributor too: it renews without asking."""
    license = make_license(world, S.IN_USE)
    for who in ("dist_admin", "staff"):
        response = page(client, getattr(world, who), f"/requests/{kind}/{license.pk}/")
        assert response.status_code == 302
        assert response["Location"] == f"/licenses/{license.pk}/{action}/"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("partner_viewer", 403),
        ("org_viewer", 403),
        ("dist_viewer", 403),
        ("staff_viewer", 403),
        ("other_partner_admin", 404),
        ("other_org_admin", 404),
        ("other_dist_admin", 404),
    ],
)
@pytest.mark.parametrize("kind", ["renewal", "upgrade"])
def test_who_may_not_ask_is_refused_the_form(client, world, who, status, kind):
    license = make_license(world, S.IN_USE)
    url = f"/requests/{kind}/{license.pk}/"
    assert page(client, getattr(world, who), url).status_code == status
    before = stored()
    assert client.post(url, {"years": "1", "rooms": "20"}).status_code == status
    assert stored() == before


def test_anonymous_is_sent_to_log_in(client, world):
    license = make_license(world, S.IN_USE)
    for kind in ("renewal", "upgrade"):
        response = client.get(f"/requests/{kind}/{license.pk}/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the queue ----------------------------------------------------------------------------


@pytest.fixture
def changes(world):
    license = make_license(world, S.IN_USE)
    return {
        "license": license,
        "renewal": services.request_renewal(world.partner_admin, license, 3),
        "upgrade": services.request_upgrade(world.org_admin, license, rooms=30),
        "new": services.create_request(
            world.partner_admin,
            services.Terms(
                location=world.shop, distributor=world.dist, years=1, payment="annual", aps=4
            ),
        ),
    }


def test_the_queue_shows_each_kind_and_filters_by_it(client, world, changes):
    text = html(page(client, world.dist_admin, "/requests/", {"state": "pending"}))
    rows = dict(ROW.findall(text))
    assert rows == {str(changes[kind].pk): kind for kind in ("renewal", "upgrade", "new")}
    assert ">Renewal</td>" in text and ">Upgrade</td>" in text and ">New license</td>" in text
    assert "30 rooms" in text and changes["license"].key in text
    assert 'name="kind" value="renewal"' in text
    only = html(page(client, world.dist_admin, "/requests/", {"kind": ["renewal", "upgrade"]}))
    assert set(dict(ROW.findall(only)).values()) == {"renewal", "upgrade"}
    # the organization reads the key of its license (sent), as the partner does
    text = html(page(client, world.org_admin, "/requests/", {"q": ""}))
    assert changes["license"].key in text


def test_the_distributor_approves_a_renewal_from_the_queue(client, world, changes):
    license, renewal = changes["license"], changes["renewal"]
    url = f"/requests/{renewal.pk}/approve/"
    text = html(page(client, world.dist_admin, url))
    assert "Approving renews the license by 3 years" in text
    assert 'name="start_mode"' not in text  # the license has its start
    assert "Renewal by 3 years" in text and license.key in text
    response = client.post(url, {})
    assert response.status_code == 302 and response["Location"] == f"/licenses/{license.pk}/"
    assert "The license was renewed." in html(client.get(response["Location"]))
    license.refresh_from_db()
    assert license.end_date == dt.date(2031, 1, 15)  # 15 January 2028 + 3 years
    event = license.events.get(kind=EventKind.RENEWED)
    assert (event.after["request"], event.actor) == (renewal.pk, world.dist_admin)
    renewal.refresh_from_db()
    assert renewal.state == RequestState.APPROVED


def test_an_approval_the_changed_license_refuses_says_why_on_the_page(client, world, changes):
    upgrade = changes["upgrade"]  # rooms 30
    services.upgrade_license(world.dist_admin, changes["license"], rooms=30)  # done meanwhile
    client.force_login(world.dist_admin)
    before = stored()
    response = client.post(f"/requests/{upgrade.pk}/approve/", {})
    text = html(response, 400)
    assert "The license no longer allows this request: Nothing to change." in text
    assert stored() == before


def test_the_distributor_rejects_a_change_with_a_reason(client, world, changes):
    upgrade = changes["upgrade"]
    client.force_login(world.dist_admin)
    assert html(client.post(f"/requests/{upgrade.pk}/reject/", {"reason": ""}), 400)
    response = client.post(f"/requests/{upgrade.pk}/reject/", {"reason": "Not this year."})
    assert response.status_code == 302
    upgrade.refresh_from_db()
    assert (upgrade.state, upgrade.reason) == (RequestState.REJECTED, "Not this year.")
    assert changes["license"].events.filter(kind=EventKind.UPGRADED).count() == 0
