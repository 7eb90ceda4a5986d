"""The license view in a real browser, on a desktop (1366 by 900) and a phone (390 by 844): an
action's dialog is a modal (opens with focus inside, Tab stays inside, Escape and Close
shut it and focus returns to the link that opened it), the key's copy button puts the
key on the clipboard and says so, and without script both fall back to plain pages; the
request form's warning follows the chosen location."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses.forms.requests import with_license_held
from wlm.licenses.models import License
from wlm.locations.models import Location
from wlm.tenancy.models import Membership
from wlm.tests.browser.conftest import DESKTOP, PHONE, WAIT_MS, log_in
from wlm.tests.browser.test_accessibility import axe_violations, describe

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
INSIDE_DIALOG = "() => Boolean(document.activeElement?.closest('dialog[open]'))"


def benidorm(username: str) -> License:
    user = get_user_model().objects.get(username=username)
    return License.objects.visible_to(user).get(location__name="Mar Azul Benidorm")


def open_action(page: Page, action: str):
    """Click an action's link; the dialog htmx brings, once open."""
    link = page.locator(f"a.action-link[data-action={action}]")
    link.click()
    dialog = page.get_by_test_id("action-dialog")
    expect(dialog).to_be_visible()
    return link, dialog


def focused_action(page: Page) -> str | None:
    return page.evaluate("() => document.activeElement?.dataset?.action ?? null")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_action_dialog_is_a_modal_that_keeps_and_returns_the_focus(open_as, viewport):
    page = open_as("iberia", viewport=VIEWPORTS[viewport])
    license = benidorm("iberia")
    page.goto(f"/licenses/{license.pk}/")

    _link, dialog = open_action(page, "deny")
    assert dialog.evaluate("d => d.open && d.matches(':modal')")
    assert describe("deny dialog", axe_violations(page)) == []
    # focus moved in, to the first field (the reason)
    expect(dialog.get_by_label("Reason")).to_be_focused()
    for _ in range(8):  # Tab and Shift+Tab go round inside the dialog
        page.keyboard.press("Tab")
        assert page.evaluate(INSIDE_DIALOG), page.evaluate("() => document.activeElement.outerHTML")
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(INSIDE_DIALOG), page.evaluate("() => document.activeElement.outerHTML")

    page.keyboard.press("Escape")
    expect(page.get_by_test_id("action-dialog")).to_have_count(0)
    assert focused_action(page) == "deny"  # back on the link that opened it

    # the visible Close button does the same; the next action opens a fresh dialog
    _link, dialog = open_action(page, "renew")
    expect(dialog.get_by_role("heading")).to_have_text("Renew the license")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("action-dialog")).to_have_count(0)
    assert focused_action(page) == "renew"
    license.refresh_from_db()
    assert license.status == "in_use"  # closing changed nothing


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_dialog_fits_the_screen(open_as, viewport):
    size = VIEWPORTS[viewport]
    page = open_as("iberia", viewport=size)
    page.goto(f"/licenses/{benidorm('iberia').pk}/")
    _link, dialog = open_action(page, "upgrade")
    box = dialog.locator("article").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
    expect(dialog.get_by_role("button", name="Close")).to_be_in_viewport()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_copy_button_puts_the_key_on_the_clipboard(open_as, live_server, viewport):
    page = open_as("iberia", viewport=VIEWPORTS[viewport])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    license = benidorm("iberia")
    page.goto(f"/licenses/{license.pk}/")
    button = page.get_by_test_id("copy-key")
    expect(button).to_be_visible()
    button.click()
    expect(page.get_by_test_id("copy-key-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == license.key


def test_without_script_the_actions_are_pages_and_no_copy_button_shows(browser, live_server, demo):
    Membership.objects.filter(user__username="iberia").update(language="en")  # as open_as
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        log_in(page, "iberia")
        license = benidorm("iberia")
        page.goto(f"/licenses/{license.pk}/")
        expect(page.get_by_test_id("license-key")).to_have_text(license.key)
        expect(page.get_by_test_id("copy-key")).to_be_hidden()
        page.locator("a.action-link[data-action=deny]").click()
        page.wait_for_url(f"**/licenses/{license.pk}/deny/")
        form = page.get_by_test_id("action-page")
        form.get_by_label("Reason").fill("Payment overdue")
        form.get_by_role("button", name="Deny access").click()
        page.wait_for_url(f"**/licenses/{license.pk}/")
        expect(page.get_by_test_id("license-status")).to_contain_text("Access denied")
    finally:
        context.close()


def test_the_request_form_warns_as_the_location_changes(open_as):
    page = open_as("costa")
    user = get_user_model().objects.get(username="costa")
    locations = with_license_held(Location.objects.visible_to(user), user)
    held = locations.filter(held_key__isnull=False).order_by("name").first()
    free = locations.filter(held_status__isnull=True).order_by("name").first()
    assert held is not None and free is not None  # the demo has both
    page.goto("/requests/new/")
    note = page.get_by_test_id("location-license-note")
    expect(note).to_be_hidden()
    select = page.get_by_label("Location")
    select.select_option(str(held.pk))
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"This location already has license {held.held_key}")
    select.select_option(str(free.pk))
    expect(note).to_be_hidden()
    # a warning, not a refusal: the send button is there and enabled
    expect(page.get_by_role("button", name="Send request")).to_be_enabled()
