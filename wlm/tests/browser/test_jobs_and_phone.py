"""In a real browser, at 1366x900 and 390x844 (docs/pages.md): a user's bulk jobs (the
licenses page's "Bulk jobs" link, the jobs page, a job's results), the licenses filter
panel's "Near their limit" box (the dashboard's link checks it), the bulk bar's action on a
phone (it was cut to "Renova…"), and the dashboard's and the license view's tables as
cards on a phone, as the lists are."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Locator, Page, expect

from wlm.licenses import bulk
from wlm.licenses.filters import near_limit
from wlm.licenses.limits import elements_in_use
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.views.licenses import TABS
from wlm.tests.browser.conftest import DESKTOP, PHONE
from wlm.tests.browser.test_accessibility import license_for

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def box(locator: Locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url}: the page scrolls sideways by {overflow}px"


def tables_read_as_cards(page: Page, tables: Locator, viewport: dict) -> int:
    """Every shown row of ``tables``: a card on a phone (each cell inside the screen,
    under its column's name), a table row on a desktop. Answers the rows seen."""
    seen = 0
    for table in tables.all():
        if not table.is_visible():
            continue
        names = [th.inner_text().strip() for th in table.locator("thead th").all()]
        for row in table.locator("tbody tr").all():
            seen += 1
            display = row.evaluate("(tr) => getComputedStyle(tr).display")
            if viewport is DESKTOP:
                assert display == "table-row", display
                continue
            assert display == "grid", (page.url, display)
            for cell in row.locator("td[data-label]").all():
                if not cell.is_visible():
                    continue
                edge = box(cell)
                assert edge["x"] >= 0 and edge["x"] + edge["width"] <= PHONE["width"] + 0.5, (
                    page.url,
                    cell.get_attribute("data-label"),
                    edge,
                )
                label = cell.evaluate("(td) => getComputedStyle(td, '::before').content")
                assert label == f'"{cell.get_attribute("data-label")}"', label
                if cell.get_attribute("data-label") in names:
                    continue
                # the month's figures are labelled by status (the header's own cells)
                assert table.locator("tbody th[scope=row]").count() > 0, label
    no_horizontal_scroll(page)
    return seen


# --- My bulk jobs -------------------------------------------------------------------------


def finished_job(username: str, count: int = 3):
    """A renewal of ``count`` of the user's licenses in use and of one that cannot be
    renewed (pending: refused, with why), worked to the end."""
    user = get_user_model().objects.get(username=username)
    visible = License.objects.visible_to(user)
    ids = list(visible.filter(status=LicenseStatus.IN_USE).values_list("pk", flat=True)[:count])
    renewable = (
        LicenseStatus.IN_USE,
        LicenseStatus.ACCESS_DENIED,
        LicenseStatus.CONTRACT_FINALIZED,
    )
    refused = visible.exclude(status__in=renewable).order_by("pk").first()
    assert len(ids) == count and refused is not None  # the demo's
    job = bulk.create_job(user, "renew", [*ids, refused.pk], years=1)
    bulk.work()
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_licenses_page_leads_to_my_jobs_and_their_results(open_as, viewport):
    job = finished_job("iberia")
    assert (job.done, job.refused) == (3, 1)
    size = VIEWPORTS[viewport]
    page = open_as("iberia", viewport=size)
    page.goto("/licenses/")
    link = page.get_by_test_id("bulk-jobs-link")
    expect(link).to_be_in_viewport(ratio=1)
    link.click()
    page.wait_for_url("**/licenses/bulk/jobs/")
    expect(page.get_by_test_id("bulk-jobs-title")).to_have_text("My bulk jobs")
    rows = page.get_by_test_id("bulk-jobs-table").locator("tbody tr[data-id]")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-state", "finished")
    expect(row.locator(".badge")).to_have_text("Finished")
    expect(row.get_by_test_id("bulk-job-progress")).to_contain_text("4 / 4")
    for cell in row.locator("td").all():
        expect(cell).to_be_in_viewport(ratio=1)
    assert tables_read_as_cards(page, page.get_by_test_id("bulk-jobs-table"), size) == 1
    # the refused count opens the job's refused licenses, each with why
    row.get_by_role("link", name="1", exact=True).click()
    page.wait_for_url(re.compile(rf"/licenses/bulk/{job.pk}/\?outcome=refused$"))
    results = page.get_by_test_id("bulk-results").locator("tbody tr[data-outcome]")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-outcome", "refused")
    message = job.items.get(outcome="refused").message
    assert message
    expect(results.first).to_contain_text(message)
    assert tables_read_as_cards(page, page.get_by_test_id("bulk-results"), size) == 1
    page.get_by_test_id("bulk-jobs-link").click()
    page.wait_for_url("**/licenses/bulk/jobs/")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_staff_see_everyones_jobs_with_who_asked(open_as, viewport):
    job = finished_job("iberia", count=1)
    page = open_as("staff", viewport=VIEWPORTS[viewport])
    page.goto("/licenses/bulk/jobs/")
    expect(page.get_by_test_id("bulk-jobs-title")).to_have_text("Bulk jobs")
    row = page.locator(f'[data-testid=bulk-jobs-table] tbody tr[data-id="{job.pk}"]')
    expect(row).to_contain_text("iberia")
    expect(row.locator('td[data-label="Asked by"]')).to_be_in_viewport(ratio=1)


# --- Near their limit -------------------------------------------------------------------------


def make_one_near_its_limit(username: str) -> set[str]:
    """A license of the user's in use, its limit brought down to what its locations use,
    unless the demo has one already: the keys of those near their limit."""
    user = get_user_model().objects.get(username=username)
    visible = License.objects.visible_to(user)
    near = set(near_limit(visible).values_list("key", flat=True))
    if near:
        return near
    for license in visible.filter(status=LicenseStatus.IN_USE).order_by("pk"):
        count = elements_in_use(license)
        if count:
            License.objects.filter(pk=license.pk).update(limit=count)
            break
    near = set(near_limit(visible).values_list("key", flat=True))
    assert near, "no license of the demo has an element to be near its limit"
    return near


def keys(page: Page) -> set[str]:
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    return {row.get_attribute("data-key") for row in rows.all()}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_dashboards_near_limit_link_checks_the_filter_panels_box(open_as, viewport):
    near = make_one_near_its_limit("iberia")
    user = get_user_model().objects.get(username="iberia")
    everyone = License.objects.visible_to(user).count()
    assert everyone > len(near)
    page = open_as("iberia", viewport=VIEWPORTS[viewport])
    page.goto("/")
    section = page.get_by_test_id("near-limit")
    section.get_by_role("link", name="See them in the licenses list").click()
    page.wait_for_url(re.compile(r"/licenses/\?near_limit=true$"))
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    expect(rows).to_have_count(len(near))
    assert keys(page) == near
    panel = page.get_by_test_id("licenses-filters")
    expect(panel).to_have_attribute("open", "")  # a filter is on: the panel shows it
    box_ = panel.get_by_label("Near their limit")
    expect(box_).to_be_checked()
    box_.scroll_into_view_if_needed()
    expect(box_).to_be_in_viewport()
    # unchecked: applied at once (as every filter), the URL without it
    box_.uncheck()
    expect(page).not_to_have_url(re.compile(r"near_limit"))
    expect(rows).to_have_count(min(everyone, 25))
    # checked again: the URL says so, and a bookmark of it opens the same list
    box_.check()
    expect(page).to_have_url(re.compile(r"near_limit=true"))
    expect(rows).to_have_count(len(near))
    page.goto(page.url)
    expect(page.get_by_test_id("licenses-filters").get_by_label("Near their limit")).to_be_checked()
    assert keys(page) == near


# --- The bulk bar on a phone -------------------------------------------------------------------


def room_for_text(select: Locator) -> list[tuple[str, float, float]]:
    """Each option of ``select``: its text's width and the width the closed select shows
    text in (its box less its padding, the arrow's room included)."""
    return select.evaluate(
        """(select) => {
          const style = getComputedStyle(select);
          const canvas = document.createElement("canvas").getContext("2d");
          canvas.font = style.font;
          const room = select.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
          return [...select.options].map((o) => [o.text, canvas.measureText(o.text).width, room]);
        }"""
    )


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_bulk_bars_action_reads_whole(open_as, viewport, language):
    size = VIEWPORTS[viewport]
    page = open_as("iberia", viewport=size, language=language)
    page.goto("/licenses/")
    bar = page.get_by_test_id("bulk-bar")
    action = bar.get_by_test_id("bulk-action")
    options = room_for_text(action)
    assert len(options) == 5  # renew, deny, restore, cancel, export
    for text, width, room in options:
        assert width <= room, f"{text!r} needs {width:.0f}px, the select shows {room:.0f}px"
    action.select_option("renew")
    for name in ("bulk-action", "bulk-years", "bulk-continue"):
        control = bar.get_by_test_id(name)
        control.scroll_into_view_if_needed()
        edge = box(control)
        assert edge["x"] >= 0 and edge["x"] + edge["width"] <= size["width"], (name, edge)
    for text, width, room in room_for_text(bar.get_by_test_id("bulk-years")):
        assert width <= room, f"{text!r} needs {width:.0f}px, the select shows {room:.0f}px"
    action.select_option("deny")
    expect(bar.get_by_test_id("bulk-years")).to_be_hidden()
    expect(bar.get_by_test_id("bulk-continue")).to_be_visible()
    no_horizontal_scroll(page)


# --- The dashboard's and the license view's tables --------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("username", ["staff", "iberia"])
def test_the_dashboards_tables_are_cards_on_a_phone(open_as, viewport, username):
    make_one_near_its_limit("iberia")
    size = VIEWPORTS[viewport]
    page = open_as(username, viewport=size)
    page.goto("/")
    chart_table = page.get_by_test_id("ending-chart-table")
    if chart_table.count():
        chart_table.locator("summary").click()
    tables = page.locator(".dashboard table")
    seen = tables_read_as_cards(page, tables, size)
    assert seen >= 12 + 1  # the months' figures and the license near its limit at least
    near = page.get_by_test_id("near-limit").locator("tbody tr[data-key]").first
    for cell in near.locator("td").all():
        cell.scroll_into_view_if_needed()
        expect(cell).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_license_views_tabs_are_cards_on_a_phone(open_as, viewport):
    license = license_for("staff")  # the demo's Benidorm hotel: a history, notices, rooms
    size = VIEWPORTS[viewport]
    page = open_as("staff", viewport=size)
    for name, _label in TABS:
        if name == "general":
            continue
        page.goto(f"/licenses/{license.pk}/?tab={name}")
        table = page.locator(f'table[data-tab-content="{name}"]')
        expect(table).to_be_visible()
        assert tables_read_as_cards(page, table, size) >= 1, name
