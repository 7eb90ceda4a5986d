"""A renewal asked for from the license view, in a real browser (docs/pages.md, "License
view"): the partner asks Iberia for two more years of the Benidorm hotel's license,
Iberia approves it in its queue, the end date moves and the history names the request;
the Request buttons and the waiting request fit a phone's width."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses.dates import add_years
from wlm.licenses.models import License, LicenseRequest, RequestState
from wlm.tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser

IBERIA = "Iberia Wireless Distribution"


def benidorm() -> License:
    costa = get_user_model().objects.get(username="costa")
    return License.objects.visible_to(costa).get(location__name="Mar Azul Benidorm")


def assert_fits(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url}: the page scrolls sideways by {overflow}px"


def test_a_partner_asks_for_a_two_year_renewal_and_the_distributor_approves_it(open_as):
    license = benidorm()
    end = license.end_date

    # the partner asks from the license view (on a phone: the buttons fit)
    costa = open_as("costa", viewport=PHONE)
    costa.goto(f"/licenses/{license.pk}/")
    buttons = costa.get_by_test_id("change-request-buttons")
    expect(buttons.get_by_role("button", name="Request change")).to_be_visible()
    assert_fits(costa)
    buttons.get_by_role("button", name="Request renewal").click()
    form = costa.get_by_test_id("change-request-form")
    expect(costa.get_by_test_id("change-license-facts")).to_contain_text(end.strftime("%Y-%m-%d"))
    form.get_by_label("Years").select_option("2")
    assert_fits(costa)
    form.get_by_role("button", name="Send request").click()
    expect(costa.locator(".messages")).to_contain_text(f"Request sent to {IBERIA}.")
    waiting = costa.get_by_test_id("pending-changes")
    expect(waiting).to_contain_text(f"waiting for {IBERIA}")
    expect(waiting).to_contain_text("Renewal by 2 years")
    expect(costa.locator("[data-ask=renewal]")).to_have_count(0)  # asked: no second button
    assert_fits(costa)
    request = LicenseRequest.objects.get(license=license, kind="renewal")

    # the distributor approves it in its queue
    iberia = open_as("iberia")
    iberia.goto("/requests/")
    row = iberia.get_by_test_id("requests-table").locator(f'tr[data-id="{request.pk}"]')
    expect(row).to_contain_text("Renewal")
    expect(row).to_contain_text(license.key)
    row.get_by_role("button", name="Approve").click()
    expect(iberia.get_by_test_id("request-summary")).to_contain_text("Renewal by 2 years")
    iberia.get_by_role("button", name="Approve").click()
    expect(iberia.locator(".messages")).to_contain_text("The license was renewed.")

    # the end date moved by two years, and the history names the request
    renewed_end = add_years(end, 2)
    license.refresh_from_db()
    assert license.end_date == renewed_end
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    iberia.get_by_role("link", name="Upgrades", exact=True).click()
    event = iberia.locator('tr[data-kind="renewed"]')
    expect(event).to_contain_text("Renewed by")
    expect(event).to_contain_text("2 years")
    expect(event).to_contain_text("from Costa Integraciones on")

    # the partner sees the new end date and nothing waiting any more
    costa.goto(f"/licenses/{license.pk}/")
    expect(costa.get_by_test_id("pending-changes")).to_have_count(0)
    expect(costa.get_by_test_id("tab-panel")).to_contain_text(renewed_end.strftime("%Y-%m-%d"))
