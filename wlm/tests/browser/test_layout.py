"""The pages' layout in a real browser (docs/pages.md, "Layout and accessibility"): a
row's actions stay in view on a desktop, the lists become cards on a phone with the
license's status and end date on screen, the skip link, the loading indicator of htmx
requests, and the filters that apply on change with the URL holding them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Locator, Page, expect

from wlm.licenses.filters import LicenseFilterSet
from wlm.licenses.models import License, LicenseRequest, LicenseStatus, RequestState
from wlm.locations.models import Location
from wlm.tenancy.models import Membership
from wlm.tests.browser.conftest import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.browser


def box(locator: Locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url}: the page scrolls sideways by {overflow}px"
    scrolling = page.evaluate(
        """() => [...document.querySelectorAll("#results .overflow-auto")]
              .filter((e) => e.scrollWidth > e.clientWidth + 1).length"""
    )
    assert scrolling == 0, f"{page.url}: a table scrolls sideways inside its box"


def test_queue_approve_and_reject_stay_in_view_on_a_desktop(open_as):
    """The distributor's queue at 1366 px: Approve and Reject were at x≈1496, off screen
    behind the table's scroll; the actions column now stays on the right of the box."""
    pending = LicenseRequest.objects.filter(
        distributor__name="Iberia Wireless Distribution", state=RequestState.PENDING
    )
    assert pending.exists()
    page = open_as("iberia", viewport=DESKTOP)
    page.goto("/requests/")
    rows = page.get_by_test_id("requests-table").locator("tbody tr[data-state=pending]")
    expect(rows).to_have_count(pending.count())
    for row in rows.all():
        for name in ("Approve", "Reject"):
            link = row.get_by_role("button", name=name, exact=True)
            expect(link).to_be_in_viewport(ratio=1)
            edge = box(link)
            assert edge["x"] >= 0 and edge["x"] + edge["width"] <= DESKTOP["width"], (name, edge)
    # and they work from there: Approve opens the approval form
    rows.first.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_test_id("approve-form")).to_be_visible()


@pytest.mark.parametrize("username", ["staff", "iberia", "costa", "marazul"])
def test_licenses_list_shows_status_and_end_date_on_a_phone(open_as, username):
    """At 390x844 each license is a card: its key (the link to the license), status and
    end date on the first screen, nothing to scroll sideways."""
    user = get_user_model().objects.get(username=username)
    first = License.objects.visible_to(user).order_by("-created", "-id").first()
    assert first is not None
    page = open_as(username, viewport=PHONE)
    page.goto("/licenses/")
    row = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]").first
    expect(row).to_have_attribute("data-key", first.key)
    status = row.get_by_test_id("license-status")
    end = row.get_by_test_id("license-end")
    for cell in (row.get_by_role("link").first, status, end):
        expect(cell).to_be_in_viewport(ratio=1)
    expect(status.locator(".badge")).to_have_attribute("data-status", first.status)
    expect(end).to_have_text(first.end_date.isoformat() if first.end_date else "—")
    # each cell says what it is (its column's name) on the card
    label = status.evaluate("(td) => getComputedStyle(td, '::before').content")
    assert label == '"Status"', label
    no_horizontal_scroll(page)
    # the link opens the license
    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("license-key")).to_be_visible()


@pytest.mark.parametrize(
    ("username", "path", "table"),
    [
        ("iberia", "/requests/", "requests-table"),
        ("marazul", "/locations/", "locations-table"),
        ("staff", "/requests/?q=", "requests-table"),
    ],
)
def test_other_lists_are_cards_on_a_phone(open_as, username, path, table):
    page = open_as(username, viewport=PHONE)
    page.goto(path)
    row = page.get_by_test_id(table).locator("tbody tr[data-id]").first
    expect(row).to_be_visible()
    assert row.evaluate("(tr) => getComputedStyle(tr).display") == "grid"
    for cell in row.locator("td").all():
        if cell.is_visible():
            edge = box(cell)
            assert edge["x"] >= 0 and edge["x"] + edge["width"] <= PHONE["width"], edge
    actions = row.locator("td.actions a")
    for action in actions.all():
        edge = box(action)
        assert edge["x"] + edge["width"] <= PHONE["width"], edge
    no_horizontal_scroll(page)


def test_skip_link_moves_focus_to_main(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    skip = page.get_by_test_id("skip-link")
    expect(skip).not_to_be_in_viewport()  # out of sight until the keyboard reaches it
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport(ratio=1)
    expect(skip).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    # the next Tab goes on from the content, not from the header's menu
    page.keyboard.press("Tab")
    in_main = page.evaluate("() => document.querySelector('main').contains(document.activeElement)")
    assert in_main


def test_focus_is_visible(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the header's first link
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] == "solid" and outline[1] >= 2, outline


def test_loading_indicator_shows_while_an_htmx_request_runs(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    loading = page.get_by_test_id("loading")
    expect(loading).to_be_hidden()
    held = []

    def hold(route):
        if route.request.headers.get("hx-request"):
            held.append(route)  # answered when the test says so: a slow server
        else:
            route.continue_()

    page.route(re.compile(r"/licenses/\?"), hold)
    page.get_by_test_id("licenses-filters").get_by_label("In Use").check()
    expect(loading).to_be_visible()
    expect(loading).to_have_attribute("role", "status")
    assert len(held) == 1
    held.pop().continue_()
    expect(loading).to_be_hidden()
    expect(page).to_have_url(re.compile(r"status=in_use"))


def shown_keys(page: Page) -> set[str]:
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    return {row.get_attribute("data-key") for row in rows.all()}


def test_licenses_filters_apply_on_change_and_the_url_holds_them(open_as):
    iberia = get_user_model().objects.get(username="iberia")
    visible = License.objects.visible_to(iberia)
    page = open_as("iberia")
    page.goto("/licenses/")
    filters = page.get_by_test_id("licenses-filters")
    filters.get_by_label("In Use").check()  # no button pressed
    expect(page).to_have_url(re.compile(r"status=in_use"))
    in_use = visible.filter(status=LicenseStatus.IN_USE)
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    expect(rows).to_have_count(in_use.count())
    # the search box applies as one types (after a short pause)
    hotel = in_use.exclude(organization=None).first()
    words = hotel.organization.name.split()[-1]
    filters.get_by_label("Search").press_sequentially(words, delay=20)
    expect(page).to_have_url(re.compile(r"q=" + re.escape(words)))
    matching = LicenseFilterSet({"status": ["in_use"], "q": words}, queryset=visible).qs
    expect(rows).to_have_count(matching.count())
    assert shown_keys(page) == set(matching.values_list("key", flat=True))
    # the URL is the view: opened again (a bookmark), the same filters and rows
    kept = shown_keys(page)
    page.goto(page.url)
    expect(page.get_by_test_id("licenses-filters").get_by_label("In Use")).to_be_checked()
    expect(page.get_by_test_id("licenses-filters").get_by_label("Search")).to_have_value(words)
    expect(rows).to_have_count(len(kept))
    assert shown_keys(page) == kept


def test_locations_filters_apply_on_change_and_keep_the_sort(open_as):
    page = open_as("staff")
    page.goto("/locations/")
    table = page.get_by_test_id("locations-table")
    table.get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"ordering=name"))
    panel = page.get_by_test_id("locations-filters")
    panel.locator("summary").click()
    panel.get_by_label("Retail").check()
    expect(page).to_have_url(re.compile(r"sector=retail"))
    expect(page).to_have_url(re.compile(r"ordering=name"))  # the sort is kept
    rows = table.locator("tbody tr[data-id]")
    expected = list(Location.objects.filter(sector="retail").order_by("name"))
    expect(rows).to_have_count(len(expected))
    assert [row.get_attribute("data-id") for row in rows.all()] == [
        str(location.pk) for location in expected
    ]
    page.goto(page.url)
    expect(page.get_by_test_id("locations-filters").get_by_label("Retail")).to_be_checked()
    expect(rows).to_have_count(len(expected))


def test_requests_filters_apply_on_change(open_as):
    page = open_as("iberia")
    page.goto("/requests/?q=")
    form = page.get_by_test_id("requests-filters")
    form.get_by_label("Rejected").check()
    expect(page).to_have_url(re.compile(r"state=rejected"))
    rejected = LicenseRequest.objects.filter(
        distributor__name="Iberia Wireless Distribution", state=RequestState.REJECTED
    )
    rows = page.get_by_test_id("requests-table").locator("tbody tr[data-id]")
    if rejected.exists():
        expect(rows).to_have_count(rejected.count())
    else:
        expect(page.get_by_test_id("requests-empty")).to_be_visible()
    page.goto(page.url)
    expect(page.get_by_test_id("requests-filters").get_by_label("Rejected")).to_be_checked()


def test_filters_and_the_skip_link_work_without_script(browser, live_server, demo):
    """Without JavaScript the filter panel is a GET form with its button, and the skip
    link a plain anchor."""
    Membership.objects.filter(user__username="iberia").update(language="en")
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en", java_script_enabled=False
    )
    try:
        page = context.new_page()
        log_in(page, "iberia")
        page.goto("/licenses/")
        filters = page.get_by_test_id("licenses-filters")
        filters.locator("summary").click()
        filters.get_by_label("Access denied").check()
        expect(page).not_to_have_url(re.compile(r"status="))  # nothing happens on change
        filters.get_by_role("button", name="Apply filters").click()
        expect(page).to_have_url(re.compile(r"status=access_denied"))
        denied = License.objects.visible_to(get_user_model().objects.get(username="iberia")).filter(
            status=LicenseStatus.ACCESS_DENIED
        )
        rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
        expect(rows).to_have_count(denied.count())
        page.keyboard.press("Tab")
        expect(page.get_by_test_id("skip-link")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"#main$"))
        expect(page.locator("main#main")).to_be_focused()
    finally:
        context.close()


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_dashboards_status_cards_hold_their_labels_on_a_phone(open_as, language):
    """Spanish labels are longer ("Pendiente de aprovisionamiento"): at 390 px each status
    card's badge stays inside its card (it overflowed the card, not the page)."""
    page = open_as("iberia", viewport=PHONE, language=language)
    page.goto("/")
    cards = page.locator(".dashboard .cards a:has(.badge)")
    expect(cards.first).to_be_visible()
    for card in cards.all():
        outer, badge = box(card), box(card.locator(".badge"))
        assert badge["x"] >= outer["x"] - 1, (language, badge, outer)
        assert badge["x"] + badge["width"] <= outer["x"] + outer["width"] + 1, (
            language,
            card.inner_text(),
        )
    no_horizontal_scroll(page)
