"""The licenses pages: the list (filters, sorting, paging, CSV), the license view and its
tabs, the certificate, and the confirmation pages of the actions, for every role."""

import csv
import datetime as dt
import io
import re

import pytest
import time_machine
from django.db import connection

from wlm.conftest import provisioned_license
from wlm.licenses import lifecycle
from wlm.licenses.models import LicenseStatus, Module
from wlm.licenses.tests.test_licenses_api import aps_license, other_license, state
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint
from wlm.notifications import worker

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LIST = "/licenses/"
HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def detail(license, tab=None):
    return f"/licenses/{license.pk}/" + (f"?tab={tab}" if tab else "")


def action_url(license, action):
    return f"/licenses/{license.pk}/{action}/"


def get(client, user, url, data=None, **headers):
    client.force_login(user)
    return client.get(url, data or {}, **headers)


def post(client, user, url, data):
    client.force_login(user)
    return client.post(url, data)


def keys(response) -> list[str]:
    """The license keys of the table's rows, in order."""
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'<tr data-key="([^"]+)"', response.content.decode())


def text(response) -> str:
    return response.content.decode()


# --- Guards ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "?tab=upgrades", "pdf/", "deny/", "assign/"])
def test_anonymous_is_sent_to_the_login_page(client, world, suffix):
    license = make_license(world, S.IN_USE)
    for url in (LIST, f"/licenses/{license.pk}/{suffix}"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("suffix", ["", "?tab=notifications", "pdf/", "deny/", "upgrade/"])
@pytest.mark.parametrize("person", ["other_dist_admin", "other_org_admin", "other_partner_admin"])
def test_another_tenants_license_is_a_404_on_every_page(client, world, person, suffix):
    license = make_license(world, S.IN_USE)
    response = get(client, getattr(world, person), f"/licenses/{license.pk}/{suffix}")
    assert response.status_code == 404
    response = post(client, getattr(world, person), action_url(license, "deny"), {"reason": "x"})
    assert response.status_code == 404
    assert state(license)[0] == S.IN_USE


def test_an_organization_does_not_see_a_key_before_send_key(client, world):
    license = make_license(world, S.PENDING_PROVISION)
    assert get(client, world.org_admin, detail(license)).status_code == 404
    assert keys(get(client, world.org_admin, LIST)) == []


# --- The list -------------------------------------------------------------------------


def test_each_tenant_lists_the_licenses_it_sees(client, world):
    own = make_license(world, S.IN_USE)
    waiting = make_license(world, S.PENDING_PROVISION)
    other = other_license(world)
    assert set(keys(get(client, world.dist_admin, LIST))) == {own.key, waiting.key}
    assert set(keys(get(client, world.partner_viewer, LIST))) == {own.key, waiting.key}
    assert keys(get(client, world.org_viewer, LIST)) == [own.key]
    assert keys(get(client, world.other_dist_admin, LIST)) == [other.key]
    assert set(keys(get(client, world.staff_viewer, LIST))) == {own.key, waiting.key, other.key}


def test_a_row_shows_every_column(client, world):
    license = make_license(world, S.IN_USE)
    license.modules.add("pms", "guest")
    response = get(client, world.dist_viewer, LIST)
    row = re.search(rf'<tr data-key="{license.key}".*?</tr>', text(response), re.S).group(0)
    assert f'href="/licenses/{license.pk}/"' in row
    assert "Org" in row
    assert "Guest Wi-Fi</span>, <span" in row and "PMS" in row
    # each cell by its column's label (data-label), whatever columns come before it
    cells = dict(re.findall(r'<td[^>]*data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S))
    assert cells["Organization"] == "Org"
    assert cells["Location"] == "Hotel"  # the location it is assigned to
    assert cells["Partner"] == "Partner"
    assert cells["APs"] == "—" and cells["Rooms"] == "10"  # a rooms license: no APs limit
    assert 'data-status="in_use"' in cells["Status"] and "In Use" in cells["Status"]
    assert (cells["Start date"], cells["End date"]) == ("2026-01-15", "2028-01-15")
    assert 'data-testid="licenses-table"' in text(response)
    assert 'data-testid="licenses-count">1 license<' in text(response)


def test_filters_by_several_statuses_at_once(client, world):
    licenses = {status: make_license(world, status) for status in S.values}
    response = get(client, world.dist_admin, LIST, {"status": [S.IN_USE, S.ACCESS_DENIED]})
    assert set(keys(response)) == {licenses[S.IN_USE].key, licenses[S.ACCESS_DENIED].key}
    assert 'value="in_use" id="id_status_2" checked' in text(response)


def test_filters_by_the_content_of_each_column(client, world):
    rooms = make_license(world, S.IN_USE)
    rooms.modules.add("pms")
    shop = aps_license(world, S.PENDING_START, limit=7)
    other = other_license(world, S.PENDING_START)
    staff = world.staff_viewer
    assert keys(get(client, staff, LIST, {"organization_name": "oTHer"})) == [other.key]
    assert set(keys(get(client, staff, LIST, {"organization_name": "org"}))) == {
        rooms.key,
        shop.key,
        other.key,
    }
    assert keys(get(client, staff, LIST, {"key": rooms.key[6:17].lower()})) == [rooms.key]
    assert keys(get(client, staff, LIST, {"module": "pms"})) == [rooms.key]
    assert keys(get(client, staff, LIST, {"aps": 7})) == [shop.key]
    assert keys(get(client, staff, LIST, {"rooms": 10})) == [rooms.key]
    assert keys(get(client, staff, LIST, {"start_after": "2026-01-15"})) == [rooms.key]
    assert keys(get(client, staff, LIST, {"end_before": "2028-01-15"})) == [rooms.key]
    assert keys(get(client, staff, LIST, {"end_after": "2028-01-16"})) == []
    assert keys(get(client, staff, LIST, {"q": "other dist"})) == [other.key]


def test_ending_in_30_days_shortcut_and_date_range(client, world):
    soon = make_license(world, S.IN_USE, start=dt.date(2026, 3, 25), years=1)
    later = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1), years=1)
    ended = make_license(world, S.CONTRACT_FINALIZED, start=dt.date(2025, 1, 1), years=1)
    response = get(client, world.dist_admin, LIST)
    shortcut = '<a href="?end_after=2027-03-10&amp;end_before=2027-04-09">Ending in 30 days</a>'
    assert shortcut in text(response)
    assert '<a href="?end_before=2027-03-10">Ended</a>' in text(response)
    range_ = {"end_after": "2027-03-10", "end_before": "2027-04-09"}
    assert keys(get(client, world.dist_admin, LIST, range_)) == [soon.key]
    assert keys(get(client, world.dist_admin, LIST, {"end_before": "2027-03-10"})) == [ended.key]
    assert later.key in keys(response)


def test_sorts_by_each_sortable_column_both_ways(client, world):
    licenses = [make_license(world, S.IN_USE) for _ in range(3)]
    by_key = sorted(license.key for license in licenses)
    assert keys(get(client, world.dist_admin, LIST, {"ordering": "key"})) == by_key
    response = get(client, world.dist_admin, LIST, {"ordering": "-key"})
    assert keys(response) == by_key[::-1]
    assert 'aria-sort="descending"><a href="?ordering=key"' in text(response)
    for field in ("organization__name", "status", "start_date", "end_date", "limit"):
        assert len(keys(get(client, world.dist_admin, LIST, {"ordering": f"-{field}"}))) == 3


def test_an_unknown_ordering_falls_back_to_the_newest_first(client, world):
    licenses = [make_license(world, S.IN_USE) for _ in range(2)]
    response = get(client, world.dist_admin, LIST, {"ordering": "password"})
    assert keys(response) == [licenses[1].key, licenses[0].key]


def test_htmx_gets_only_the_results_with_the_sort_kept_in_the_form(client, world):
    license = make_license(world, S.IN_USE)
    response = get(client, world.dist_admin, LIST, {"ordering": "key"}, **HTMX_RESULTS)
    body = text(response)
    # not the page, nor its filter panel (the results carry the bulk bar's own form)
    assert "<html" not in body and '<form method="get" action="/licenses/"' not in body
    assert keys(response) == [license.key]
    assert 'id="filters-ordering" name="ordering" value="key" hx-swap-oob="true"' in body
    page = text(get(client, world.dist_admin, LIST))
    assert 'hx-get="/licenses/" hx-target="#results" hx-push-url="true"' in page
    assert '<form method="get" action="/licenses/"' in page  # works without JavaScript


def test_export_csv_gives_the_filtered_rows_in_the_page_order(client, world):
    licenses = [make_license(world, S.IN_USE) for _ in range(3)]
    make_license(world, S.PENDING_PROVISION)
    query = {"status": "in_use", "ordering": "key", "organization_name": "org", "page": "1"}
    response = get(client, world.dist_admin, LIST, query)
    csv_url = response.context["csv_url"]
    assert csv_url.startswith("/api/v1/licenses/?") and "format=csv" in csv_url
    assert "page=" not in csv_url
    assert f'href="{csv_url.replace("&", "&amp;")}"' in text(response)
    exported = client.get(csv_url)
    assert exported.status_code == 200, exported.content
    content = b"".join(exported.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [row["key"] for row in rows] == keys(response) == sorted(x.key for x in licenses)


def test_bad_filter_input_shows_errors_not_a_500(client, world):
    make_license(world, S.IN_USE)
    response = get(client, world.dist_admin, LIST, {"aps": "many", "end_after": "soon"})
    assert response.status_code == 200
    assert text(response).count('class="errorlist"') == 2
    assert keys(response) == []


def test_the_count_and_the_pages(client, world):
    for _ in range(27):
        make_license(world, S.IN_USE)
    response = get(client, world.dist_admin, LIST)
    assert len(keys(response)) == 25
    assert 'data-testid="licenses-count">27 licenses<' in text(response)
    assert 'href="?page=2"' in text(response)
    assert len(keys(get(client, world.dist_admin, LIST, {"page": 2}))) == 2


@pytest.mark.parametrize("rows", [2, 25])
def test_the_list_costs_the_same_queries_for_any_number_of_rows(
    client, world, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        make_license(world, S.IN_USE).modules.add("guest", "pms")
    client.force_login(world.dist_admin)
    # 9, and the user's saved views (the menu); on PostgreSQL, and the planner's estimate
    # of the matches (wlm/lib/plans.py)
    with django_assert_max_num_queries(11 if connection.vendor == "postgresql" else 10):
        response = client.get(LIST, {"module": "pms", "status": "in_use"})
    assert len(keys(response)) == rows


# --- The license view -----------------------------------------------------------------


def test_the_header_shows_key_status_organization_and_the_pdf_link(client, world):
    license = make_license(world, S.IN_USE)
    body = text(get(client, world.org_viewer, detail(license)))
    assert f'data-testid="license-key">{license.key}<' in body
    assert 'data-status="in_use"' in body
    assert 'data-testid="license-organization">Org<' in body
    assert f'href="/licenses/{license.pk}/pdf/"' in body


def test_general_data_shows_limits_in_use_and_terms(client, world):
    license = make_license(world, S.IN_USE)
    AccessPoint.objects.create(location=world.hotel, mac="02:00:00:00:00:09")
    body = text(get(client, world.partner_viewer, detail(license)))
    assert 'data-testid="rooms-usage">maximum 10 · in use 1<' in body
    assert 'data-testid="aps-usage">maximum — · in use 2<' in body
    for fact in ("Hotel", "Dist", "Partner", "2026-01-15", "2028-01-15", "2 years", "Annual"):
        assert fact in body
    assert "Automatic (device connections)" in body


def test_platform_modules_lists_the_catalogue_and_what_is_enabled(client, world):
    license = make_license(world, S.IN_USE)
    license.modules.add("guest", "pms")
    body = text(get(client, world.org_viewer, detail(license, "modules")))
    shown = dict(re.findall(r'data-module="([^"]+)" data-enabled="(true|false)"', body))
    assert shown == {code: str(code in ("guest", "pms")).lower() for code in _catalogue()}


def _catalogue():
    return list(Module.objects.values_list("code", flat=True))


def test_upgrades_lists_each_change_with_actor_reason_and_values(client, world):
    license = make_license(world, S.IN_USE)
    lifecycle.deny(world.dist_admin, license.pk, "unpaid invoice")
    body = text(get(client, world.org_viewer, detail(license, "upgrades")))
    row = re.search(r'<tr data-kind="denied">.*?</tr>', body, re.S).group(0)
    assert "dist_admin" in row and "Access denied" in row and "unpaid invoice" in row
    # field names and values as a person reads them, not stored codes
    assert "Status</small>: In Use → Access denied" in row
    assert "Status before denial</small>: — → In Use" in row


def test_upgrades_name_what_the_events_stored_by_id(client, world):
    license = provisioned_license(world, world.hotel, dt.datetime(2026, 6, 20, tzinfo=dt.UTC))
    body = text(get(client, world.org_viewer, detail(license, "upgrades")))
    row = re.search(r'<tr data-kind="provisioned">.*?</tr>', body, re.S).group(0)
    assert f"Organization</small>: — → {world.org.name}<" in row
    assert f"Location</small>: {world.hotel.name}<" in row  # where it was activated
    assert str(world.hotel.pk) not in row
    assert "Provisioned</small>: — → 2026-06-20 00:00 UTC<" in row  # no microseconds
    lifecycle.start(license.pk, dt.date(2026, 7, 1), evidence={"threshold": 5, "devices": []})
    lifecycle.upgrade(world.dist_admin, license.pk, add_modules=[Module.objects.get(code="pms")])
    body = text(get(client, world.org_viewer, detail(license, "upgrades")))
    started = re.search(r'<tr data-kind="started">.*?</tr>', body, re.S).group(0)
    # the platform itself, in the reader's language
    assert '<td data-label="Actor">system</td>' in started
    assert "Start date</small>: — → 2026-07-01<" in started
    upgraded = re.search(r'<tr data-kind="upgraded">.*?</tr>', body, re.S).group(0)
    assert Module.objects.get(code="pms").name in upgraded  # names, not codes


def test_notifications_mask_the_recipients_of_other_tenants(client, world):
    license = provisioned_license(world, world.hotel, dt.datetime(2026, 6, 20, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 6, 20, tzinfo=dt.UTC), tick=False):
        lifecycle.start(license.pk, dt.date(2026, 7, 1), evidence={"source": "test"})
    with time_machine.travel(dt.datetime(2027, 6, 1, 0, 0, tzinfo=dt.UTC), tick=False):
        worker.run_pass()
    own = text(get(client, world.org_viewer, detail(license, "notifications")))
    assert "org@example.com" in own and "partner contact" in own
    assert "partner@example.com" not in own and "dist@example.com" not in own
    assert 'data-status="sent"' in own and 'data-status="pending"' in own
    staff = text(get(client, world.staff_viewer, detail(license, "notifications")))
    assert "partner@example.com" in staff and "partner contact" not in staff


def test_assignments_list_locations_with_their_elements(client, world):
    license = make_license(world, S.IN_USE)
    body = text(get(client, world.dist_viewer, detail(license, "assignments")))
    row = re.search(rf'<tr data-id="{world.hotel.pk}">.*?</tr>', body, re.S).group(0)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row) == [
        f"<code>{world.hotel.pk}</code>",
        "Hotel",
        "1",
        "1",
    ]


def test_tabs_swap_only_the_panel_with_htmx_and_work_as_plain_links(client, world):
    license = make_license(world, S.IN_USE)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "tab-panel"}
    partial = text(get(client, world.dist_admin, detail(license, "assignments"), **headers))
    assert "<html" not in partial and "license-actions" not in partial
    assert 'data-tab-content="assignments"' in partial
    assert 'id="tabs-nav" aria-label="License" hx-swap-oob="true"' in partial
    assert 'data-tab="assignments" aria-current="page"' in partial
    page = text(get(client, world.dist_admin, detail(license, "upgrades")))
    assert "<html" in page and 'data-testid="tab-panel"' in page
    assert 'data-tab-content="upgrades"' in page
    for label in ("General data", "Platform modules", "Upgrades", "Notifications", "Assignments"):
        assert f">{label}</a>" in page


def test_an_unknown_tab_shows_general_data(client, world):
    license = make_license(world, S.IN_USE)
    body = text(get(client, world.dist_admin, detail(license, "secrets")))
    assert 'data-tab-content="general"' in body


def test_the_certificate_downloads_like_the_api(client, api, world):
    license = make_license(world, S.PENDING_PROVISION)
    response = get(client, world.partner_viewer, f"/licenses/{license.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="license-{license.key}.pdf"'
    assert response.content.startswith(b"%PDF")
    through_api = api(world.partner_viewer).get(f"/api/v1/licenses/{license.pk}/pdf/")
    for header in ("Content-Type", "Content-Disposition", "Cache-Control"):
        assert through_api[header] == response[header]
    assert through_api.content == response.content


def _buttons(response) -> list[str]:
    return re.findall(r'data-action="([a-z]+)"', text(response))


@pytest.mark.parametrize(
    "person, status, expected",
    [
        ("dist_admin", S.IN_USE, ["upgrade", "renew", "deny"]),
        ("dist_admin", S.ACCESS_DENIED, ["upgrade", "renew", "restore"]),
        ("dist_admin", S.PENDING_PROVISION, ["upgrade", "cancel"]),
        ("staff", S.IN_USE, ["upgrade", "renew", "deny", "assign"]),
        ("org_admin", S.IN_USE, ["assign"]),
        ("dist_viewer", S.IN_USE, []),
        ("org_viewer", S.IN_USE, []),
        ("staff_viewer", S.IN_USE, []),
        ("partner_admin", S.IN_USE, []),
    ],
)
def test_each_role_sees_the_buttons_of_its_actions(client, world, person, status, expected):
    license = make_license(world, status)
    response = get(client, getattr(world, person), detail(license))
    assert _buttons(response) == expected
    assert ('data-testid="license-actions"' in text(response)) == bool(expected)


def test_unassign_is_offered_per_location_to_the_organization(client, world):
    license = make_license(world, S.IN_USE)
    admin = text(get(client, world.org_admin, detail(license, "assignments")))
    assert f"/licenses/{license.pk}/unassign/?location={world.hotel.pk}" in admin
    viewer = text(get(client, world.org_viewer, detail(license, "assignments")))
    assert "unassign" not in viewer and "Assign a location" not in viewer


# --- The actions ----------------------------------------------------------------------

REFUSED = [
    ("dist_viewer", "deny", {"reason": "x"}),
    ("staff_viewer", "renew", {"years": 1}),
    ("partner_admin", "deny", {"reason": "x"}),
    ("org_viewer", "unassign", {"location": "HOTEL"}),
    ("org_admin", "upgrade", {"rooms": 20}),
    ("dist_admin", "assign", {"location": "HOTEL"}),
]


@pytest.mark.parametrize("person, action, data", REFUSED)
def test_a_role_without_the_action_gets_403_and_nothing_changes(
    client, world, person, action, data
):
    license = make_license(world, S.IN_USE)
    data = {k: world.hotel.pk if v == "HOTEL" else v for k, v in data.items()}
    before = state(license)
    assert get(client, getattr(world, person), action_url(license, action)).status_code == 403
    response = post(client, getattr(world, person), action_url(license, action), data)
    assert response.status_code == 403
    assert state(license) == before


def test_the_confirmation_form_opens_as_a_page_or_as_a_dialog(client, world):
    license = make_license(world, S.IN_USE)
    page = text(get(client, world.dist_admin, action_url(license, "deny")))
    assert "<html" in page and 'data-testid="action-form"' in page
    assert f'action="/licenses/{license.pk}/deny/"' in page
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dialog"}
    dialog = text(get(client, world.dist_admin, action_url(license, "deny"), **headers))
    # closed until static/js/app.js opens it as a modal (showModal)
    assert "<html" not in dialog and dialog.lstrip().startswith("<dialog aria-labelledby")
    assert "data-modal" in dialog and "<dialog open" not in dialog
    assert '<form method="dialog"' in dialog  # Close, without script
    assert 'method="post"' in dialog and "csrfmiddlewaretoken" in dialog


def test_deny_needs_a_reason(client, world):
    license = make_license(world, S.IN_USE)
    before = state(license)
    response = post(client, world.dist_admin, action_url(license, "deny"), {"reason": "  "})
    assert response.status_code == 400
    assert "This field is required." in text(response)
    assert state(license) == before


def test_the_distributor_denies_then_restores_access(client, world):
    license = make_license(world, S.IN_USE)
    response = post(client, world.dist_admin, action_url(license, "deny"), {"reason": "unpaid"})
    assert response.status_code == 302 and response["Location"] == detail(license)
    page = client.get(response["Location"])
    assert "Access was denied." in text(page)
    assert 'data-status="access_denied"' in text(page)
    license.refresh_from_db()
    assert license.status == S.ACCESS_DENIED
    assert license.events.last().reason == "unpaid"
    response = post(client, world.dist_admin, action_url(license, "restore"), {"reason": ""})
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.status == S.IN_USE


def test_an_action_the_status_does_not_allow_shows_the_rule(client, world):
    license = make_license(world, S.IN_USE)
    before = state(license)
    form = text(get(client, world.dist_admin, action_url(license, "cancel")))
    assert "Cannot cancel a license that is In Use." in form
    assert "Cancel the license</button>" not in form
    response = post(client, world.dist_admin, action_url(license, "cancel"), {"reason": "gone"})
    assert response.status_code == 400
    assert "Cannot cancel a license that is In Use." in text(response)
    assert state(license) == before


def test_the_distributor_cancels_an_unused_license(client, world):
    license = make_license(world, S.PENDING_PROVISION)
    response = post(client, world.dist_admin, action_url(license, "cancel"), {"reason": "gone"})
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.status == S.CONTRACT_FINALIZED


def test_upgrade_offers_the_limit_of_the_license_type(client, world):
    rooms = text(
        get(client, world.dist_admin, action_url(make_license(world, S.IN_USE), "upgrade"))
    )
    assert 'name="rooms" value="10"' in rooms and 'name="aps"' not in rooms
    aps = aps_license(world, S.IN_USE, limit=5)
    body = text(get(client, world.dist_admin, action_url(aps, "upgrade")))
    assert 'name="aps" value="5"' in body and 'name="rooms"' not in body


def test_upgrade_changes_the_limit_and_the_modules(client, world):
    license = aps_license(world, S.IN_USE, limit=5)
    license.modules.add("guest")
    data = {"aps": 8, "add_modules": ["pms"], "remove_modules": ["guest"], "reason": "grew"}
    response = post(client, world.dist_admin, action_url(license, "upgrade"), data)
    assert response.status_code == 302, text(response)
    license.refresh_from_db()
    assert license.limit == 8
    assert list(license.modules.values_list("code", flat=True)) == ["pms"]


def test_upgrade_refuses_a_limit_below_what_is_in_use(client, world):
    license = aps_license(world, S.IN_USE, limit=5)
    for n in range(3):
        AccessPoint.objects.create(location=world.shop, mac=f"02:00:00:00:01:0{n}")
    before = state(license)
    response = post(client, world.dist_admin, action_url(license, "upgrade"), {"aps": 2})
    assert response.status_code == 400
    assert "allows 2 access points; 3 would be in use" in text(response)
    assert state(license) == before


def test_upgrade_with_nothing_to_change_says_so(client, world):
    license = make_license(world, S.IN_USE)
    before = state(license)
    response = post(client, world.dist_admin, action_url(license, "upgrade"), {"rooms": 10})
    assert response.status_code == 400 and "Nothing to change." in text(response)
    assert state(license) == before


def test_renew_moves_the_end_date(client, world):
    license = make_license(world, S.IN_USE)
    response = post(client, world.staff, action_url(license, "renew"), {"years": 2})
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.end_date == dt.date(2030, 1, 15)


def test_renew_refuses_years_out_of_range(client, world):
    license = make_license(world, S.IN_USE)
    before = state(license)
    response = post(client, world.dist_admin, action_url(license, "renew"), {"years": 6})
    assert response.status_code == 400 and "errorlist" in text(response)
    assert state(license) == before


def test_the_organization_assigns_and_unassigns_a_location(client, world):
    license = aps_license(world, S.IN_USE)
    form = text(get(client, world.org_admin, action_url(license, "assign")))
    assert f'value="{world.hotel.pk}">Hotel<' in form and "Shop<" not in form
    response = post(
        client, world.org_admin, action_url(license, "assign"), {"location": world.hotel.pk}
    )
    assert response.status_code == 302
    assert response["Location"] == detail(license, "assignments")
    assert set(license.assignments.values_list("location", flat=True)) == {
        world.shop.pk,
        world.hotel.pk,
    }
    response = post(
        client, world.org_admin, action_url(license, "unassign"), {"location": world.shop.pk}
    )
    assert response.status_code == 302
    assert list(license.assignments.values_list("location", flat=True)) == [world.hotel.pk]


def test_the_refusals_of_assign_and_unassign_are_shown_on_the_form(client, world):
    license = make_license(world, S.IN_USE)  # a rooms license at the hotel
    before = state(license)
    shop = post(client, world.org_admin, action_url(license, "assign"), {"location": world.shop.pk})
    assert shop.status_code == 400
    assert "A rooms license can only be used at hospitality locations." in text(shop)
    last = post(
        client, world.org_admin, action_url(license, "unassign"), {"location": world.hotel.pk}
    )
    assert last.status_code == 400 and "A license keeps at least one location." in text(last)
    other = post(
        client, world.org_admin, action_url(license, "assign"), {"location": world.other_office.pk}
    )
    assert other.status_code == 400 and "Select a valid choice." in text(other)
    assert state(license) == before


def test_the_unassign_form_preselects_the_location_of_the_link(client, world):
    license = make_license(world, S.IN_USE)
    url = f"{action_url(license, 'unassign')}?location={world.hotel.pk}"
    assert f'value="{world.hotel.pk}" selected' in text(get(client, world.org_admin, url))


@pytest.mark.parametrize("tab", ["general", "modules", "upgrades", "notifications", "assignments"])
def test_each_tab_costs_a_bounded_number_of_queries(
    client, world, tab, django_assert_max_num_queries
):
    license = make_license(world, S.IN_USE)
    for n in range(5):
        lifecycle.renew(world.dist_admin, license.pk, 1, f"year {n}")
    client.force_login(world.dist_admin)
    with django_assert_max_num_queries(8):
        response = client.get(detail(license, tab))
    assert response.status_code == 200
