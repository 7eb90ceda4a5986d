"""The license-request pages (DESIGN §6 "License requests"): the list and distributor's
queue, the request form, and the approve / reject confirmations."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from wlm.licenses import services
from wlm.licenses.models import License, LicenseEvent, LicenseRequest, Module, RequestState
from wlm.licenses.tests.conftest import ask
from wlm.locations.models import Location
from wlm.tenancy.models import Partner

pytestmark = pytest.mark.django_db

LIST = "/requests/"
NEW = "/requests/new/"
NOW = dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC)
ROW = re.compile(r'<tr data-id="(\d+)"')


def row_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [int(pk) for pk in ROW.findall(response.content.decode())]


def stored() -> tuple:
    """The 'nothing changed' witness: requests (with their state), licenses, events."""
    return (
        list(LicenseRequest.objects.order_by("pk").values_list("pk", "state", "reason")),
        License.objects.count(),
        LicenseEvent.objects.count(),
    )


@pytest.fixture
def queue(world, pending):
    """Requests in every state: ``pending``, an approved and a rejected one for ``dist``,
    and one of the other partner for ``other_dist``."""
    approved = ask(world.partner_admin, world.shop, world.dist, aps=5)
    license = services.approve_request(world.dist_admin, approved.pk)
    rejected = ask(world.partner_admin, world.shop, world.dist, aps=500)
    services.reject_request(world.dist_admin, rejected.pk, "Too many APs for one shop.")
    foreign = ask(world.other_partner_admin, world.other_office, world.other_dist, aps=3)
    return {
        "pending": pending,
        "approved": approved,
        "license": license,
        "rejected": rejected,
        "foreign": foreign,
    }


def login(client, user):
    client.force_login(user)
    return client


# --- the list and the queue ---------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, NEW, "/requests/1/approve/", "/requests/1/reject/"], ids=str)
def test_anonymous_is_sent_to_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_distributor_bare_list_is_its_pending_queue(client, world, queue):
    login(client, world.dist_admin)
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?state=pending"
    assert row_ids(client.get(response["Location"])) == [queue["pending"].pk]


def test_distributor_all_states_shows_its_requests_only(client, world, queue):
    login(client, world.dist_admin)
    ids = row_ids(client.get(LIST, {"q": ""}))
    assert sorted(ids) == sorted([queue["pending"].pk, queue["approved"].pk, queue["rejected"].pk])


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("staff", {"pending", "approved", "rejected", "foreign"}),
        ("partner_admin", {"pending", "approved", "rejected"}),
        ("partner_viewer", {"pending", "approved", "rejected"}),
        ("org_viewer", {"pending", "approved", "rejected"}),
        ("other_partner_admin", {"foreign"}),
        ("other_dist_admin", {"foreign"}),
        ("other_org_admin", {"foreign"}),
    ],
)
def test_each_role_lists_the_requests_it_sees(client, world, queue, who, expected):
    login(client, getattr(world, who))
    response = client.get(LIST, {"q": ""})  # all states (a distributor's bare list: pending)
    assert set(row_ids(response)) == {queue[name].pk for name in expected}
    assert 'data-testid="requests-table"' in response.content.decode()


def test_distributor_admin_sees_approve_and_reject_on_pending_rows_only(client, world, queue):
    login(client, world.dist_admin)
    html = client.get(LIST, {"q": ""}).content.decode()
    assert html.count(">Approve</a>") == 1 and html.count(">Reject</a>") == 1
    assert reverse("requests:approve", args=[queue["pending"].pk]) in html
    assert reverse("requests:reject", args=[queue["pending"].pk]) in html


@pytest.mark.parametrize("who", ["dist_viewer", "partner_admin", "org_admin", "staff_viewer"])
def test_who_may_not_decide_sees_no_buttons(client, world, queue, who):
    login(client, getattr(world, who))
    html = client.get(LIST, {"q": ""}).content.decode()
    assert ">Approve<" not in html and ">Reject<" not in html


@pytest.mark.parametrize(
    ("who", "shown"),
    [("partner_admin", True), ("staff", True), ("partner_viewer", False), ("dist_admin", False)],
)
def test_request_a_license_link_for_requesters_only(client, world, who, shown):
    login(client, getattr(world, who))
    html = client.get(LIST, {"q": ""}).content.decode()
    assert (f'href="{NEW}"' in html) is shown


def test_approved_row_links_its_license_and_pdf(client, world, queue):
    login(client, world.partner_admin)
    html = client.get(LIST).content.decode()
    license = queue["license"]
    assert f'href="{reverse("licenses:detail", args=[license.pk])}"' in html
    assert license.key in html
    assert f"/licenses/{license.pk}/pdf/" in html  # the page's PDF or the API's
    assert "Too many APs for one shop." in html  # the rejection's reason


@pytest.mark.parametrize("who", ["org_viewer", "org_admin"])
def test_organization_sees_no_key_before_send_key(client, world, queue, who):
    """The key is shown to whom the API shows it (``License.objects.visible_to``): the
    organization reads its license once the key was sent, not from the approved request."""
    from wlm.licenses import lifecycle

    license = queue["license"]
    login(client, getattr(world, who))
    html = client.get(LIST, {"q": ""}).content.decode()
    assert queue["approved"].pk in row_ids(client.get(LIST, {"q": ""}))
    assert license.key not in html
    assert f"/licenses/{license.pk}/" not in html  # no link to a 404 (view nor PDF)
    assert client.get(f"/api/v1/licenses/{license.pk}/").status_code == 404  # the API's rule
    lifecycle.provision(world.org_admin, world.shop, license.key)
    assert license.key in client.get(LIST, {"q": ""}).content.decode()


@pytest.mark.parametrize("who", ["partner_viewer", "dist_viewer", "staff_viewer"])
def test_who_sees_the_license_sees_its_key_on_the_request(client, world, queue, who):
    login(client, getattr(world, who))
    assert queue["license"].key in client.get(LIST, {"q": ""}).content.decode()


def test_state_filter_repeats_and_search_narrows(client, world, queue):
    login(client, world.staff)
    ids = row_ids(client.get(f"{LIST}?state=approved&state=rejected"))
    assert sorted(ids) == sorted([queue["approved"].pk, queue["rejected"].pk])
    assert row_ids(client.get(LIST, {"q": "Other Partner"})) == [queue["foreign"].pk]
    assert row_ids(client.get(LIST, {"state": "nonsense"})) == []  # invalid: no rows


def test_sorting_by_years_and_unknown_field_is_lenient(client, world, queue):
    login(client, world.staff)
    ids = row_ids(client.get(LIST, {"ordering": "-years"}))
    assert ids[0] == queue["pending"].pk  # the only 2-year request
    assert len(row_ids(client.get(LIST, {"ordering": "password"}))) == 4


def test_csv_link_is_the_api_export_of_the_same_query(client, world, queue):
    login(client, world.dist_admin)
    html = client.get(f"{LIST}?state=pending&q=Hotel").content.decode()
    api = reverse("api:license-request-list")
    assert f"{api}?state=pending&amp;q=Hotel&amp;format=csv" in html
    export = client.get(api, {"state": "pending", "q": "Hotel", "format": "csv"})
    lines = b"".join(export.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{queue['pending'].pk},")


def test_htmx_refresh_returns_the_results_only(client, world, queue):
    login(client, world.staff)
    response = client.get(
        LIST, {"state": "pending"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    html = response.content.decode()
    assert 'data-testid="requests-table"' in html and "<html" not in html


def test_list_query_count_does_not_grow_with_rows(client, world, django_assert_max_num_queries):
    modules = Module.objects.filter(advanced=True)
    login(client, world.staff)
    ask(world.partner_admin, world.shop, world.dist, aps=1, modules=modules)
    with django_assert_max_num_queries(12) as few:
        client.get(LIST)
    for n in range(30):
        ask(world.partner_admin, world.shop, world.dist, aps=n + 1, modules=modules)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST)
    assert len(row_ids(response)) == 25


def test_partner_filter_is_a_name_typed_not_a_choice(client, world, queue):
    """No select of every partner (a distributor's network grows): ``partner_name``, part
    of the name accents and case aside; ``?partner=<id>`` still selects one, named."""
    Partner.objects.bulk_create(Partner(name=f"Reseller {n}") for n in range(40))
    login(client, world.staff)
    html = client.get(LIST, {"q": ""}).content.decode()
    assert 'name="partner_name"' in html and '<select name="partner"' not in html
    assert "Reseller 7" not in html
    assert row_ids(client.get(LIST, {"partner_name": "OTHER pártner"})) == [queue["foreign"].pk]
    mine = row_ids(client.get(LIST, {"partner_name": "partner", "state": "pending"}))
    assert sorted(mine) == sorted([queue["pending"].pk, queue["foreign"].pk])
    chosen = client.get(LIST, {"partner": world.other_partner.pk, "state": "pending"})
    page = chosen.content.decode()
    assert row_ids(chosen) == [queue["foreign"].pk]
    assert 'data-testid="partner-chosen"' in page and "<strong>Other Partner</strong>" in page
    assert f'<input type="hidden" name="partner" value="{world.other_partner.pk}">' in page
    assert 'href="?state=pending" data-testid="partner-drop"' in page
    # a distributor's name search finds none of another distributor's requests
    login(client, world.dist_admin)
    assert row_ids(client.get(LIST, {"partner_name": "other"})) == []
    # a partner has no partner filter (it is its own)
    login(client, world.partner_admin)
    assert 'name="partner_name"' not in client.get(LIST).content.decode()


def test_the_api_filters_requests_by_partner_name(api, world, queue):
    response = api(world.staff).get(
        reverse("api:license-request-list"), {"partner_name": "other partner"}
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [queue["foreign"].pk]


# --- approve / reject --------------------------------------------------------------------


def test_approve_page_shows_the_request_and_start_choices(client, world, pending):
    login(client, world.dist_admin)
    response = client.get(f"/requests/{pending.pk}/approve/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hotel" in html and "20 rooms" in html and "PMS" in html
    assert 'name="start_mode" value="automatic"' in html and 'name="fixed_start"' in html
    assert ">Approve</button>" in html


@pytest.mark.parametrize("who", ["dist_admin", "staff"])
def test_approve_generates_the_license_and_shows_it(client, world, pending, who):
    login(client, getattr(world, who))
    response = client.post(
        f"/requests/{pending.pk}/approve/", {"start_mode": "automatic"}, follow=False
    )
    pending.refresh_from_db()
    assert pending.state == RequestState.APPROVED
    license = pending.license
    assert response.status_code == 302
    assert response["Location"] == reverse("licenses:detail", args=[license.pk])
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [f"License generated: {license.key}"]
    assert license.limit == 20 and license.start_mode == "automatic"


def test_approve_with_a_fixed_start(client, world, pending):
    with time_machine.travel(NOW, tick=False):
        login(client, world.dist_admin)
        response = client.post(
            f"/requests/{pending.pk}/approve/", {"start_mode": "fixed", "fixed_start": "2027-04-01"}
        )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.license.start_mode == "fixed"
    assert pending.license.fixed_start == dt.date(2027, 4, 1)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"start_mode": "fixed", "fixed_start": "2027-03-01"}, "cannot be in the past"),
        ({"start_mode": "fixed"}, "needs a date"),
        ({"start_mode": "sometime"}, "Select a valid choice"),
        ({"start_mode": "fixed", "fixed_start": "next week"}, "Enter a valid date"),
    ],
)
def test_approve_errors_are_shown_and_nothing_changes(client, world, pending, body, error):
    before = stored()
    with time_machine.travel(NOW, tick=False):
        login(client, world.dist_admin)
        response = client.post(f"/requests/{pending.pk}/approve/", body)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert stored() == before


def test_deciding_a_decided_request_shows_the_conflict(client, world, queue):
    login(client, world.dist_admin)
    before = stored()
    for action, body in [("approve", {"start_mode": "automatic"}), ("reject", {"reason": "No"})]:
        response = client.post(f"/requests/{queue['rejected'].pk}/{action}/", body)
        assert response.status_code == 400
        assert "This request is already rejected." in response.content.decode()
    assert stored() == before


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("who", ["dist_viewer", "partner_admin", "staff_viewer", "org_admin"])
def test_who_may_not_decide_is_refused_and_nothing_changes(client, world, pending, action, who):
    login(client, getattr(world, who))
    before = stored()
    url = f"/requests/{pending.pk}/{action}/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"start_mode": "automatic", "reason": "No"})
    assert response.status_code == 403
    assert stored() == before


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("who", ["other_dist_admin", "other_partner_admin", "other_org_admin"])
def test_another_tenants_request_is_not_found(client, world, pending, action, who):
    login(client, getattr(world, who))
    before = stored()
    url = f"/requests/{pending.pk}/{action}/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"start_mode": "automatic", "reason": "No"}).status_code == 404
    assert client.get("/requests/999999/approve/").status_code == 404
    assert stored() == before


def test_reject_needs_a_reason(client, world, pending):
    login(client, world.dist_admin)
    before = stored()
    for reason in ["", "   "]:
        response = client.post(f"/requests/{pending.pk}/reject/", {"reason": reason})
        assert response.status_code == 400
        assert 'id="id_reason_error"' in response.content.decode()
    assert stored() == before


def test_reject_records_the_reason_and_returns_to_the_queue(client, world, pending):
    login(client, world.dist_admin)
    response = client.post(f"/requests/{pending.pk}/reject/", {"reason": "  No budget  "})
    assert response.status_code == 302 and response["Location"] == LIST
    pending.refresh_from_db()
    assert pending.state == RequestState.REJECTED and pending.reason == "No budget"
    assert License.objects.count() == 0
    queue_page = client.get(f"{LIST}?q=", follow=True).content.decode()
    assert "Request for Hotel rejected." in queue_page


# --- the request form ------------------------------------------------------------------


def test_form_offers_the_partners_locations_and_distributors(client, world):
    login(client, world.partner_admin)
    response = client.get(NEW)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="request-form"' in html
    assert str(world.hotel.pk) in html and str(world.shop.pk) in html
    assert str(world.other_office.pk) not in html
    assert '<optgroup label="Org">' in html
    assert "Other Dist" not in html
    assert f'<option value="{world.dist.pk}" selected>' in html  # its only distributor
    for module in Module.objects.filter(advanced=True):
        assert f'value="{module.code}"' in html
    for module in Module.objects.filter(advanced=False):
        assert f'value="{module.code}"' not in html
    assert ">Send request</button>" in html


def test_staff_form_offers_every_distributor(client, world):
    login(client, world.staff)
    html = client.get(NEW).content.decode()
    assert "Other Dist" in html and str(world.other_office.pk) in html


@pytest.mark.parametrize(
    "who", ["partner_viewer", "dist_admin", "org_admin", "staff_viewer", "gateway"]
)
def test_form_is_refused_to_non_requesters(client, world, who):
    login(client, getattr(world, who))
    before = stored()
    assert client.get(NEW).status_code == 403
    body = {"location": world.shop.pk, "distributor": world.dist.pk, "years": 1}
    assert client.post(NEW, {**body, "payment": "annual", "aps": 3}).status_code == 403
    assert stored() == before


def test_send_request_for_a_shop(client, world):
    login(client, world.partner_admin)
    response = client.post(
        NEW,
        {
            "location": world.shop.pk,
            "distributor": world.dist.pk,
            "years": 3,
            "payment": "monthly",
            "aps": 12,
            "modules": ["business", "enterprise"],
        },
    )
    assert response.status_code == 302 and response["Location"] == LIST
    created = LicenseRequest.objects.get()
    assert (created.location, created.distributor, created.partner) == (
        world.shop,
        world.dist,
        world.partner,
    )
    assert (created.years, created.payment, created.aps, created.rooms) == (3, "monthly", 12, None)
    assert sorted(created.modules.values_list("code", flat=True)) == ["business", "enterprise"]
    assert created.requested_by == world.partner_admin
    page = client.get(LIST).content.decode()
    assert "Request sent to Dist." in page


def test_hotel_is_asked_in_rooms_and_the_form_says_so(client, world):
    login(client, world.partner_admin)
    body = {"location": world.hotel.pk, "distributor": world.dist.pk, "years": 1}
    response = client.post(NEW, {**body, "payment": "annual", "aps": 10})
    html = response.content.decode()
    assert response.status_code == 400
    assert "A hospitality location is licensed by rooms." in html
    assert LicenseRequest.objects.count() == 0
    response = client.post(NEW, {**body, "payment": "annual", "rooms": 40})
    assert response.status_code == 302
    assert LicenseRequest.objects.get().rooms == 40


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"location": "other"}, "location"),  # the other partner's location: not offered
        ({"location": "not-a-uuid"}, "location"),
        ({"distributor": "other"}, "distributor"),  # a distributor it does not work with
        ({"years": 6}, "years"),
        ({"years": "two"}, "years"),
        ({"payment": "weekly"}, "payment"),
        ({"aps": 0}, "aps"),
        ({"aps": ""}, "aps"),  # the shop needs an APs limit
        ({"modules": ["guest"]}, "modules"),  # a base module is not asked for
    ],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_stored(client, world, changes, field):
    login(client, world.partner_admin)
    body = {
        "location": world.shop.pk,
        "distributor": world.dist.pk,
        "years": 1,
        "payment": "annual",
        "aps": 4,
        **changes,
    }
    if body["location"] == "other":
        body["location"] = world.other_office.pk
    if body["distributor"] == "other":
        body["distributor"] = world.other_dist.pk
    response = client.post(NEW, body)
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.content.decode()
    assert LicenseRequest.objects.count() == 0


def test_staff_naming_a_distributor_the_partner_does_not_use_gets_the_rule(client, world):
    login(client, world.staff)
    body = {"location": world.shop.pk, "distributor": world.other_dist.pk, "years": 1}
    response = client.post(NEW, {**body, "payment": "annual", "aps": 4})
    assert response.status_code == 400
    assert "does not work with this distributor" in response.content.decode()
    assert LicenseRequest.objects.count() == 0


def test_location_prefill_from_the_query(client, world):
    login(client, world.partner_admin)
    html = client.get(NEW, {"location": str(world.hotel.pk)}).content.decode()
    assert f'<option value="{world.hotel.pk}" selected data-limit="rooms">' in html
    assert '<div data-limit-field="rooms">' in html  # the rooms input is shown
    assert '<div data-limit-field="aps" hidden>' in html
    # an invisible or malformed location is simply not prefilled
    for value in [str(world.other_office.pk), "nonsense"]:
        response = client.get(NEW, {"location": value})
        assert response.status_code == 200
        assert not re.search(r'value="[0-9a-f-]{36}" selected', response.content.decode())


def test_without_a_location_both_limits_are_offered(client, world):
    login(client, world.partner_admin)
    html = client.get(NEW).content.decode()
    assert '<div data-limit-field="aps">' in html and '<div data-limit-field="rooms">' in html


def test_each_location_option_says_which_limit_it_takes(client, world):
    login(client, world.partner_admin)
    html = client.get(NEW).content.decode()
    assert f'value="{world.hotel.pk}" data-limit="rooms"' in html
    assert f'value="{world.shop.pk}" data-limit="aps"' in html


def test_every_location_the_partner_sees_is_offered(client, world):
    extra = Location.objects.create(
        organization=world.org, name="Kiosk", sector="retail", timezone="UTC", country="ES"
    )
    login(client, world.partner_admin)
    assert str(extra.pk) in client.get(NEW).content.decode()
