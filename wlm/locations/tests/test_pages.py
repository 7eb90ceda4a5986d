"""The locations pages: the list with its search panel (the API's FilterSet and queryset)
and the Send Key form (lifecycle.provision behind the API's throttles)."""

import copy
import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils.html import escape

from wlm.licenses import services, throttles
from wlm.licenses.keys import generate_key
from wlm.licenses.models import License, LicenseEvent, LicenseStatus
from wlm.locations.models import Location, Room

pytestmark = pytest.mark.django_db

S = LicenseStatus
LIST = reverse("locations:list")
NOW = dt.datetime(2026, 6, 20, 10, 0, tzinfo=dt.UTC)


def send_key_url(location) -> str:
    return reverse("locations:send_key", args=[location.pk])


def page(client, user, url=LIST, data=None, **headers):
    client.force_login(user)
    return client.get(url, data or {}, headers=headers)


def row_ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'<tr data-id="([0-9a-f-]{36})"', response.content.decode())


def unsent(world, location=None, **limit) -> License:
    """A pending_provision license made for ``location`` by its partner's distributor."""
    location = location or world.hotel
    if not limit:
        limit = {"rooms": 5} if location.is_hospitality else {"aps": 5}
    ours = location.organization_id == world.org.pk
    distributor, seller = (
        (world.dist, world.dist_admin) if ours else (world.other_dist, world.other_dist_admin)
    )
    terms = services.Terms(
        location=location, distributor=distributor, years=1, payment="annual", **limit
    )
    return services.create_license(seller, terms)


def snapshot(license):
    license.refresh_from_db()
    return (
        license.status,
        license.organization_id,
        list(license.assignments.values_list("location_id", flat=True)),
        LicenseEvent.objects.filter(license=license).count(),
    )


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def active(world):
    """The hotel holds an activated (Pending Start) license."""
    license = unsent(world)
    from wlm.licenses import lifecycle

    return lifecycle.provision(world.org_admin, world.hotel, license.key)


# --- The list --------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client, world):
    for url in (LIST, send_key_url(world.hotel)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("person", "names"),
    [
        ("org_admin", {"Hotel", "Shop"}),
        ("org_viewer", {"Hotel", "Shop"}),
        ("partner_admin", {"Hotel", "Shop"}),
        ("other_org_admin", {"Office"}),
        ("staff", {"Hotel", "Shop", "Office"}),
    ],
)
def test_each_tenant_sees_its_own_locations(client, world, person, names):
    ids = row_ids(page(client, getattr(world, person)))
    assert {Location.objects.get(pk=pk).name for pk in ids} == names


def test_the_table_shows_the_license_as_the_user_sees_it(client, world, active):
    response = page(client, world.org_viewer)
    html = response.content.decode()
    assert 'data-testid="locations-table"' in html
    hotel_row = re.search(rf'<tr data-id="{world.hotel.pk}">(.*?)</tr>', html, re.S).group(1)
    assert active.key in hotel_row
    assert reverse("licenses:detail", args=[active.pk]) in hotel_row
    assert 'data-testid="license-status"' in hotel_row and "Pending Start" in hotel_row
    shop_row = re.search(rf'<tr data-id="{world.shop.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "No license" in shop_row


def test_a_key_not_yet_sent_is_not_shown_to_the_organization(client, world):
    license = unsent(world)  # pending_provision: the distributor and partner see it
    assert license.key not in page(client, world.org_admin).content.decode()
    assert license.key in page(client, world.partner_admin).content.decode()


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        ("org_admin", True),
        ("staff", True),
        ("org_viewer", False),
        ("partner_admin", False),
        ("dist_admin", False),
        ("staff_viewer", False),
    ],
)
def test_only_those_who_may_activate_see_the_license_button(client, world, person, shown):
    html = page(client, getattr(world, person)).content.decode()
    assert (send_key_url(world.hotel) in html) == shown
    assert ('data-testid="license-button"' in html) == shown


def test_license_status_filter_takes_several_statuses_and_no_license(client, world, active):
    client.force_login(world.org_admin)
    pending = row_ids(client.get(LIST, {"license_status": ["pending_start"]}))
    assert pending == [str(world.hotel.pk)]
    none = row_ids(client.get(LIST, {"license_status": ["none"]}))
    assert none == [str(world.shop.pk)]
    both = row_ids(client.get(LIST, {"license_status": ["none", "pending_start"]}))
    assert set(both) == {str(world.hotel.pk), str(world.shop.pk)}
    html = client.get(LIST, {"license_status": ["none"]}).content.decode()
    assert re.search(r'type="checkbox" name="license_status" value="none"[^>]*checked', html)


def test_end_date_range_and_the_30_days_shortcut(client, world):
    from wlm.conftest import provisioned_license
    from wlm.licenses import lifecycle

    license = provisioned_license(world, world.hotel, NOW)
    lifecycle.start(license.pk, dt.date(2025, 7, 1), evidence={"source": "test"})  # ends 07-01
    client.force_login(world.org_admin)
    html = client.get(LIST).content.decode()
    shortcut = "license_end_after=2026-06-20&amp;license_end_before=2026-07-20"
    assert shortcut in html
    soon = {"license_end_after": "2026-06-20", "license_end_before": "2026-07-20"}
    assert row_ids(client.get(LIST, soon)) == [str(world.hotel.pk)]
    later = {"license_end_after": "2026-07-02"}
    assert row_ids(client.get(LIST, later)) == []
    # typed as the reader writes dates (wlm.lib.widgets.LocalDateInput): ISO in English
    assert 'type="text" name="license_end_after"' in html
    assert 'placeholder="yyyy-mm-dd"' in html


def test_sector_search_and_organization_filters(client, world):
    client.force_login(world.staff)
    sectors = row_ids(client.get(LIST, {"sector": ["retail", "office"]}))
    assert sectors == [str(world.other_office.pk), str(world.shop.pk)]  # Office, Shop
    assert row_ids(client.get(LIST, {"q": "queen"})) == [str(world.shop.pk)]
    org = row_ids(client.get(LIST, {"organization": world.other_org.pk}))
    assert org == [str(world.other_office.pk)]


def test_the_organization_is_filtered_by_a_typed_name_not_a_list_of_every_one(client, world):
    html = page(client, world.partner_admin).content.decode()
    assert 'name="organization_name"' in html
    assert '<select name="organization"' not in html  # no option per organization
    # an organization's users have one organization: no filter offered
    assert 'name="organization_name"' not in page(client, world.org_admin).content.decode()
    client.force_login(world.staff)
    other = row_ids(client.get(LIST, {"organization_name": "tHER ÓR"}))  # accents, case aside
    assert other == [str(world.other_office.pk)]
    assert len(row_ids(client.get(LIST, {"organization_name": "org"}))) == 3
    assert row_ids(client.get(LIST, {"organization_name": "nobody"})) == []
    # the scope still holds: another tenant's organization matches none of its locations
    client.force_login(world.partner_admin)
    assert row_ids(client.get(LIST, {"organization_name": "other"})) == []


def test_a_link_to_one_organization_keeps_it_while_other_filters_change(client, world):
    client.force_login(world.staff)
    response = client.get(LIST, {"organization": world.other_org.pk, "sector": "office"})
    assert row_ids(response) == [str(world.other_office.pk)]
    html = response.content.decode()
    # the form carries it (the next filter keeps it), named, with a link that drops it
    assert f'<input type="hidden" name="organization" value="{world.other_org.pk}">' in html
    chosen = re.search(r'data-testid="organization-chosen">(.*?)</p>', html, re.S).group(1)
    assert "Other Org" in chosen and 'href="?sector=office"' in chosen
    # without it, no hidden choice
    assert 'name="organization" value' not in client.get(LIST).content.decode()


def test_bad_filters_are_shown_as_errors_not_a_crash(client, world):
    client.force_login(world.partner_admin)
    for query in (
        {"license_end_after": "yesterday"},
        {"organization": world.other_org.pk},  # not visible: like a missing one
        {"organization": "99999999999999999999999"},
        {"license_status": "bogus"},
    ):
        response = client.get(LIST, query)
        assert response.status_code == 200, query
        assert row_ids(response) == []
        assert "form-errors" in response.content.decode()


def test_sorting_by_a_column_and_unknown_orderings_fall_back(client, world):
    client.force_login(world.staff)
    by_name = row_ids(client.get(LIST))
    assert [Location.objects.get(pk=pk).name for pk in by_name] == ["Hotel", "Office", "Shop"]
    reverse_name = row_ids(client.get(LIST, {"ordering": "-name"}))
    assert reverse_name == by_name[::-1]
    by_country = row_ids(client.get(LIST, {"ordering": "country"}))
    assert [Location.objects.get(pk=pk).country.code for pk in by_country] == ["ES", "NZ", "PT"]
    assert row_ids(client.get(LIST, {"ordering": "address; drop"})) == by_name
    html = client.get(LIST, {"ordering": "name"}).content.decode()
    assert 'aria-sort="ascending"' in html


def test_htmx_gets_only_the_results_and_the_form_targets_them(client, world):
    client.force_login(world.org_admin)
    full = client.get(LIST).content.decode()
    assert 'hx-get="/locations/"' in full and 'hx-target="#results"' in full
    assert 'hx-push-url="true"' in full and 'method="get"' in full
    partial = client.get(
        LIST, {"sector": "retail"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    html = partial.content.decode()
    assert "<html" not in html and 'data-testid="locations-table"' in html
    assert row_ids(partial) == [str(world.shop.pk)]


def test_the_csv_link_exports_the_same_filtered_rows(client, world):
    client.force_login(world.org_admin)
    html = client.get(LIST, {"sector": "retail", "page": "1"}).content.decode()
    link = (
        re.search(r'href="([^"]*)" data-testid="export-csv"', html).group(1).replace("&amp;", "&")
    )
    assert link == "/api/v1/locations/?sector=retail&format=csv"
    csv = client.get(link)
    assert csv.status_code == 200
    body = b"".join(csv.streaming_content) if csv.streaming else csv.content
    assert b"Shop" in body and b"Hotel" not in body


def test_the_list_is_paginated(client, world):
    for number in range(30):
        Location.objects.create(
            organization=world.org,
            name=f"Kiosk {number:02}",
            sector="retail",
            timezone="Europe/Madrid",
            country="ES",
        )
    client.force_login(world.org_admin)
    first = client.get(LIST)
    assert len(row_ids(first)) == 25 and 'rel="next"' in first.content.decode()
    assert len(row_ids(client.get(LIST, {"page": 2}))) == 32 - 25


def test_the_list_takes_the_same_queries_for_more_rows(
    client, world, active, django_assert_max_num_queries
):
    client.force_login(world.staff)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert len(row_ids(client.get(LIST))) == 3
    for number in range(20):
        location = Location.objects.create(
            organization=world.org,
            name=f"Hall {number:02}",
            sector="hospitality",
            timezone="Europe/Madrid",
            country="ES",
        )
        Room.objects.create(location=location, number="1")
        unsent(world, location)
    with django_assert_max_num_queries(len(few)):
        assert len(row_ids(client.get(LIST))) == 23
    assert len(few) <= 10


# --- Send Key --------------------------------------------------------------------------


def post_key(client, user, location, key, **extra):
    client.force_login(user)
    return client.post(send_key_url(location), {"key": key}, **extra)


def test_the_send_key_form_shows_the_location_and_its_license(client, world, active):
    response = page(client, world.org_admin, send_key_url(world.hotel))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="send-key-form"' in html and 'name="key"' in html
    assert str(world.hotel.pk) in html and "Calle 1" in html and "Europe/Madrid" in html
    assert active.key in html and "Pending Start" in html
    assert "No license" in page(client, world.org_admin, send_key_url(world.shop)).content.decode()


def test_send_key_activates_the_license_and_goes_to_it(client, world):
    license = unsent(world)
    typed = license.key.lower().replace("-", " ")
    response = post_key(client, world.org_admin, world.hotel, typed, follow=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("licenses:detail", args=[license.pk])
    license.refresh_from_db()
    assert license.status == S.PENDING_START and license.organization == world.org
    assert list(license.assignments.values_list("location_id", flat=True)) == [world.hotel.pk]
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == ["Key activated: Pending Start"]


def test_staff_may_send_a_key(client, world):
    license = unsent(world)
    assert post_key(client, world.staff, world.hotel, license.key).status_code == 302
    license.refresh_from_db()
    assert license.status == S.PENDING_START


def without_token(response) -> str:
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'name="key" value="[^"]*"', "", html)


def test_unknown_malformed_and_other_organizations_keys_get_one_answer(client, world):
    foreign = unsent(world, world.other_office)
    answers = [
        post_key(client, world.org_admin, world.hotel, key)
        for key in (generate_key(), "not a key!", foreign.key)
    ]
    for response in answers:
        assert response.status_code == 400
        assert "No license with this key can be activated here." in response.content.decode()
    assert without_token(answers[0]) == without_token(answers[1]) == without_token(answers[2])
    assert snapshot(foreign)[0] == S.PENDING_PROVISION


def test_send_key_page_and_api_refuse_an_unknown_key_in_the_same_words(client, api, world):
    on_page = post_key(client, world.org_admin, world.hotel, generate_key())
    through_api = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/activate/", {"key": generate_key()}
    )
    assert through_api.status_code == 404
    detail = through_api.json()["detail"]
    assert on_page.status_code == 400
    assert escape(detail) in on_page.content.decode()


def test_send_key_refuses_used_key(client, world, active):
    before = snapshot(active)
    response = post_key(client, world.org_admin, world.shop, active.key)
    assert response.status_code == 400
    assert "already been used or its license has ended" in response.content.decode()
    assert snapshot(active) == before


def test_send_key_refuses_a_rooms_license_at_a_location_without_rooms(client, world):
    license = unsent(world)  # rooms, made for the hotel
    before = snapshot(license)
    response = post_key(client, world.org_admin, world.shop, license.key)
    assert response.status_code == 400
    assert "hospitality" in response.content.decode()
    assert snapshot(license) == before


def test_send_key_refuses_a_location_that_holds_an_active_license(client, world, active):
    license = unsent(world)
    before = snapshot(license)
    response = post_key(client, world.org_admin, world.hotel, license.key)
    assert response.status_code == 400
    assert "already holds an active license" in response.content.decode()
    assert snapshot(license) == before


def test_send_key_refuses_a_location_over_the_limit(client, world):
    license = unsent(world, rooms=1)
    Room.objects.create(location=world.hotel, number="102")
    response = post_key(client, world.org_admin, world.hotel, license.key)
    assert response.status_code == 400
    assert "allows 1 rooms; 2 would be in use" in response.content.decode()
    assert snapshot(license)[0] == S.PENDING_PROVISION


def test_an_empty_key_is_a_form_error(client, world):
    response = post_key(client, world.org_admin, world.hotel, "")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


@pytest.mark.parametrize("person", ["org_viewer", "partner_admin", "dist_admin", "staff_viewer"])
def test_a_viewer_or_another_tenant_type_cannot_send_a_key(client, world, person):
    license = unsent(world)
    before = snapshot(license)
    user = getattr(world, person)
    assert page(client, user, send_key_url(world.hotel)).status_code == 403
    assert post_key(client, user, world.hotel, license.key).status_code == 403
    assert snapshot(license) == before


def test_another_organizations_location_is_not_found(client, world):
    license = unsent(world, world.other_office)
    for url in (
        send_key_url(world.other_office),
        reverse("locations:send_key", args=[uuid.uuid4()]),
    ):
        assert page(client, world.org_admin, url).status_code == 404
    assert post_key(client, world.org_admin, world.other_office, license.key).status_code == 404
    assert snapshot(license)[0] == S.PENDING_PROVISION


@pytest.fixture
def rates(settings, monkeypatch):
    """``rates(user=N, address=M)``: lower the Send Key throttles (as the API tests do)."""

    def lower(user=1000, address=1000):
        framework = copy.deepcopy(settings.REST_FRAMEWORK)
        framework["DEFAULT_THROTTLE_RATES"].update(
            activate_user=f"{user}/min", activate_address=f"{address}/min"
        )
        framework["NUM_PROXIES"] = 0
        settings.REST_FRAMEWORK = framework
        for throttle in (
            throttles.ActivationUserThrottle,
            throttles.ActivationAddressThrottle,
        ):
            monkeypatch.setattr(throttle, "THROTTLE_RATES", framework["DEFAULT_THROTTLE_RATES"])
        cache.clear()

    return lower


def test_send_key_is_throttled_per_user_with_a_clear_message(client, world, rates):
    rates(user=2)
    for _ in range(2):
        assert post_key(client, world.org_admin, world.hotel, generate_key()).status_code == 400
    license = unsent(world)
    response = post_key(client, world.org_admin, world.hotel, license.key)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Too many key attempts" in response.content.decode()
    assert snapshot(license)[0] == S.PENDING_PROVISION
    # the page and the API count the same attempts
    api_response = client.post(
        f"/api/v1/locations/{world.hotel.pk}/activate/", {"key": license.key}
    )
    assert api_response.status_code == 429
    # another user from another address has a budget of its own
    other = post_key(client, world.staff, world.hotel, license.key, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302


def test_send_key_is_throttled_per_address(client, world, rates):
    rates(address=2)
    post_key(client, world.org_admin, world.hotel, generate_key())
    post_key(client, world.other_org_admin, world.other_office, generate_key())
    assert post_key(client, world.staff, world.hotel, generate_key()).status_code == 429


def test_a_refused_role_does_not_spend_the_budget(client, world, rates):
    rates(address=1)
    for _ in range(3):
        assert post_key(client, world.org_viewer, world.hotel, generate_key()).status_code == 403
    assert post_key(client, world.org_admin, world.hotel, generate_key()).status_code == 400
