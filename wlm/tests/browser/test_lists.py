"""The lists and the license view in a real browser: filters (several statuses, the end
date shortcut), sorting, the tabs, and a phone-sized screen."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from wlm.lib import clock
from wlm.licenses.models import License, LicenseStatus

pytestmark = pytest.mark.browser


def keys_shown(page) -> list[str]:
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    return [row.get_attribute("data-key") for row in rows.all()]


def visible(username: str):
    return License.objects.visible_to(get_user_model().objects.get(username=username))


def test_filter_licenses_by_several_statuses(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    filters = page.get_by_test_id("licenses-filters")
    filters.get_by_label("In Use").check()
    filters.get_by_label("Access denied").check()
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=in_use.*status=access_denied"))
    expected = visible("iberia").filter(
        status__in=[LicenseStatus.IN_USE, LicenseStatus.ACCESS_DENIED]
    )
    expect(page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")).to_have_count(
        expected.count()
    )
    assert set(keys_shown(page)) == set(expected.values_list("key", flat=True))


def test_ending_in_30_days_shortcut(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    page.get_by_role("link", name="Ending in 30 days").click()
    today = clock.today_in("UTC")
    expected = visible("iberia").filter(
        end_date__gte=today, end_date__lte=today + dt.timedelta(days=30)
    )
    assert expected.exists()  # the demo's Valencia license ends in 20 days
    expect(page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")).to_have_count(
        expected.count()
    )
    assert set(keys_shown(page)) == set(expected.values_list("key", flat=True))


def test_sort_by_end_date_both_ways(open_as):
    page = open_as("staff")
    page.goto("/licenses/")
    table = page.get_by_test_id("licenses-table")
    table.get_by_role("link", name="End date").click()
    expect(page).to_have_url(re.compile(r"ordering=end_date"))
    ascending = keys_shown(page)
    table.get_by_role("link", name=re.compile("End date")).click()
    expect(page).to_have_url(re.compile(r"ordering=-end_date"))
    descending = keys_shown(page)
    dated = list(
        License.objects.exclude(end_date=None).order_by("end_date").values_list("key", flat=True)
    )
    assert [key for key in ascending if key in dated] == dated
    assert [key for key in descending if key in dated] == dated[::-1]


def test_license_view_tabs(open_as):
    page = open_as("marazul")
    license = visible("marazul").get(location__name="Mar Azul Benidorm")
    page.goto(f"/licenses/{license.pk}/")
    panel = page.get_by_test_id("tab-panel")
    expect(panel).to_contain_text("Hotel Mar Azul")  # General data
    expect(panel).to_contain_text("40")  # the rooms maximum after the upgrade

    def open_tab(name):
        """Click a tab and wait until its answer is in (the tab bar comes with the panel:
        a click before that could land on a link being replaced)."""
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")

    open_tab("Platform modules")
    expect(panel).to_contain_text("PMS")
    expect(panel).to_contain_text("Analytics")

    open_tab("Upgrades")
    expect(panel).to_contain_text("New wing with 10 more rooms")

    open_tab("Notifications")
    expect(panel.locator("tbody tr").first).to_be_visible()

    open_tab("Assignments")
    expect(panel).to_contain_text("Mar Azul Benidorm")


def test_locations_search_panel_by_license_status(open_as):
    page = open_as("iberia")
    page.goto("/locations/")
    page.get_by_test_id("locations-filters").locator("summary").click()
    panel = page.get_by_test_id("locations-filters")
    panel.get_by_label("Access denied").check()
    panel.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("locations-table").locator("tbody tr[data-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Mercado Central Canarias")


def test_pages_fit_a_phone(open_as):
    from wlm.tests.browser.conftest import PHONE

    page = open_as("iberia", viewport=PHONE)
    for path in ("/", "/licenses/", "/locations/", "/requests/"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, (path, overflow)
