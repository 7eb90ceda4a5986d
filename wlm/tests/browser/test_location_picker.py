"""The request form of a partner with more locations than a select holds (docs/pages.md,
"The location picker"), in a real browser on a desktop (1366 by 900) and a phone (390
by 844): part of a name typed, htmx fills the select with the matches, the location
picked shows its limit input, and the request is sent; without script the search is a
GET of the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from wlm.licenses.models import LicenseRequest
from wlm.locations.models import Location
from wlm.tenancy.models import Membership
from wlm.tests.browser.conftest import DESKTOP, PHONE, WAIT_MS, log_in
from wlm.tests.browser.test_accessibility import crowd

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_partner_finds_a_location_by_part_of_its_name_and_asks(open_as, viewport):
    crowd()
    malaga = Location.objects.get(name="Mar Azul Málaga")  # a hotel: licensed by rooms
    page = open_as("costa", viewport=VIEWPORTS[viewport])
    page.goto("/requests/new/")
    select = page.get_by_label("Location", exact=True)
    expect(select.locator("option[value]:not([value=''])")).to_have_count(0)
    page.get_by_label("Find a location").press_sequentially("malaga")  # no accent typed
    status = page.get_by_test_id("location-search-status")
    expect(status).to_have_text("1 location found.")
    expect(select.locator("option[value]:not([value=''])")).to_have_count(1)
    select.select_option(str(malaga.pk))
    rooms = page.get_by_label("Rooms limit")
    expect(rooms).to_be_visible()
    expect(page.get_by_label("APs limit")).to_be_hidden()
    rooms.fill("16")
    # the page fits the screen: nothing to scroll sideways
    assert (
        page.evaluate("() => document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    )
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url("**/requests/")
    expect(page.get_by_text("Request sent to Iberia Wireless Distribution.")).to_be_visible()
    sent = LicenseRequest.objects.get(location=malaga, requested_by__username="costa")
    assert (sent.rooms, sent.aps) == (16, None)


def test_a_new_search_keeps_the_chosen_location(open_as):
    crowd()
    page = open_as("costa")
    page.goto("/requests/new/")
    search = page.get_by_label("Find a location")
    search.fill("benidorm")
    select = page.get_by_label("Location", exact=True)
    benidorm = Location.objects.get(name="Mar Azul Benidorm")
    expect(select.locator(f"option[value='{benidorm.pk}']")).to_have_count(1)
    select.select_option(str(benidorm.pk))
    search.fill("puesto 19")  # 019, 119, 190 … 199
    expect(page.get_by_test_id("location-search-status")).to_have_text("12 locations found.")
    expect(select).to_have_value(str(benidorm.pk))  # still chosen, listed first
    expect(select.locator("option[value]:not([value=''])")).to_have_count(13)


def test_without_script_the_search_reloads_the_page(browser, live_server, demo):
    crowd()
    Membership.objects.filter(user__username="costa").update(language="en")
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        log_in(page, "costa")
        page.goto("/requests/new/")
        page.get_by_label("Find a location").fill("canarias")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url("**/requests/new/?location_q=canarias")
        canarias = Location.objects.get(name="Mercado Central Canarias")
        select = page.get_by_label("Location", exact=True)
        expect(select.locator("option[value]:not([value=''])")).to_have_count(1)
        select.select_option(str(canarias.pk))
        page.get_by_label("APs limit").fill("5")
        page.get_by_role("button", name="Send request").click()
        page.wait_for_url("**/requests/")
        assert LicenseRequest.objects.filter(location=canarias, aps=5).exists()
    finally:
        context.close()
