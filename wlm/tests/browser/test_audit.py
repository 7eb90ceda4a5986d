"""The audit log's page in a real browser: a failed login and a change show for the
organization's admin, the filter panel applies on change, and on a phone the rows are
cards that fit the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from wlm.audit.models import AuditEntry, Kind
from wlm.tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser


def rows(page):
    return page.get_by_test_id("audit-table").locator("tbody tr[data-id]")


def test_the_audit_log_of_an_organization(open_as):
    # someone tries marazul's password, then marazul logs in and adds a room
    intruder = open_as(None)
    intruder.goto("/accounts/login/")
    form = intruder.locator('form:has(input[name="password"])')
    form.locator('input[name="username"]').fill("marazul")
    form.locator('input[name="password"]').fill("not-the-password")
    form.locator('button[type="submit"]').click()
    expect(intruder.locator('input[name="password"]')).to_be_visible()

    page = open_as("marazul")
    page.get_by_test_id("audit-link").click()
    expect(page).to_have_url(re.compile(r"/audit/$"))
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    mine = AuditEntry.objects.filter(kind=Kind.LOGIN_FAILED, object_label="marazul").get()
    expect(page.locator(f'tr[data-id="{mine.pk}"]')).to_contain_text("Login failed")

    # the filter panel applies on change: a kind chosen, the table follows
    page.get_by_test_id("audit-filters").locator("summary").click()
    page.get_by_test_id("audit-kind").select_option(["login"])
    expect(page).to_have_url(re.compile(r"kind=login(&|$)"))
    expect(rows(page).first).to_be_visible()
    for kind in rows(page).evaluate_all("rows => rows.map(row => row.dataset.kind)"):
        assert kind == "login"
    # the search box as one types: the actor's name
    page.get_by_test_id("audit-filter-form").locator('input[name="q"]').fill("nobody-at-all")
    expect(page.get_by_test_id("audit-table")).to_contain_text("No entries match.")


def test_a_viewer_has_no_audit_log(open_as):
    page = open_as("marazul-viewer")
    expect(page.get_by_test_id("audit-link")).to_have_count(0)
    response = page.goto("/audit/")
    assert response.status == 403


def test_the_audit_log_on_a_phone(open_as):
    page = open_as("iberia", viewport=PHONE)
    page.goto("/audit/")
    first = rows(page).first
    expect(first).to_be_visible()
    # each row a card: its cells one under another, each under its column's name
    assert first.evaluate("row => getComputedStyle(row).display") == "grid"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1
