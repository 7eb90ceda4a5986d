"""Lists and exports in a real browser (docs/pages.md, "Lists and exports"): a saved
view (filter, save it by name, find it in the "Views" menu, open it, delete it), the
Location and Partner columns, empty end dates last both ways, and the CSV the page
links to: its rows in the page's order, with names and ids."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from wlm.licenses.models import License, LicenseStatus
from wlm.tenancy.models import SavedView

pytestmark = pytest.mark.browser


def keys_shown(page) -> list[str]:
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    return [row.get_attribute("data-key") for row in rows.all()]


def visible(username: str):
    return License.objects.visible_to(get_user_model().objects.get(username=username))


def test_save_open_and_delete_a_view(open_as):
    page = open_as("iberia")
    page.goto("/licenses/")
    filters = page.get_by_test_id("licenses-filters")
    if not filters.evaluate("details => details.open"):
        filters.locator("summary").click()
    filters.get_by_label("In Use").check()
    filters.get_by_role("button", name="Apply filters").click()  # htmx: the results only
    expect(page).to_have_url(re.compile(r"status=in_use"))
    in_use = visible("iberia").filter(status=LicenseStatus.IN_USE)
    table_rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    expect(table_rows).to_have_count(in_use.count())

    # the menu was swapped in with the results: it saves the filters now shown
    menu = page.get_by_test_id("saved-views")
    menu.locator("summary").click()
    menu.get_by_test_id("save-view-name").fill("Running")
    menu.get_by_test_id("save-view").click()
    expect(page).to_have_url(re.compile(r"/licenses/\?status=in_use$"))
    expect(page.get_by_text("View saved: Running")).to_be_visible()
    view = SavedView.objects.get(owner__username="iberia")
    assert (view.list_name, view.query) == ("licenses", "status=in_use")

    # from the whole list, the menu opens it again
    page.goto("/licenses/")
    menu = page.get_by_test_id("saved-views")
    menu.locator("summary").click()
    menu.get_by_role("link", name="Running").click()
    expect(page).to_have_url(re.compile(r"/licenses/\?status=in_use$"))
    expect(table_rows).to_have_count(in_use.count())
    assert set(keys_shown(page)) == set(in_use.values_list("key", flat=True))

    # a duplicate name is refused on the form, with the reason
    menu = page.get_by_test_id("saved-views")
    menu.locator("summary").click()
    menu.get_by_test_id("save-view-name").fill("Running")
    menu.get_by_test_id("save-view").click()
    expect(page.get_by_text("You already have a view with this name on this list.")).to_be_visible()
    assert SavedView.objects.count() == 1

    # another user does not see it
    other = open_as("iberia-viewer")
    other.goto("/licenses/")
    other.get_by_test_id("saved-views").locator("summary").click()
    expect(other.get_by_test_id("saved-views")).to_contain_text("No saved views yet.")

    # delete it
    page.goto("/licenses/?status=in_use")
    menu = page.get_by_test_id("saved-views")
    menu.locator("summary").click()
    menu.get_by_test_id("saved-view-delete").click()
    expect(page.get_by_text("View deleted: Running")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/licenses/\?status=in_use$"))
    assert not SavedView.objects.exists()


def test_location_and_partner_columns_and_empty_end_dates_last(open_as):
    page = open_as("staff")
    page.goto("/licenses/")
    table = page.get_by_test_id("licenses-table")
    expect(table.get_by_role("columnheader", name="Location")).to_be_visible()
    expect(table.get_by_role("columnheader", name="Partner")).to_be_visible()
    undated = set(License.objects.filter(end_date=None).values_list("key", flat=True))
    assert undated  # the demo has licenses not yet started
    for ordering, link in (("end_date", "End date"), ("-end_date", re.compile("End date"))):
        table.get_by_role("link", name=link).click()
        expect(page).to_have_url(re.compile(rf"ordering={ordering}(&|$)"))
        shown = keys_shown(page)
        every = License.objects.count()
        if every <= 25:  # every license on page 1: the undated ones close the page
            assert set(shown[-len(undated) :]) == undated, ordering
        else:  # page 1 holds the first dated ones
            assert not undated & set(shown), ordering
        ends = [
            page.locator(f'tr[data-key="{key}"] [data-testid="license-end"]').inner_text()
            for key in shown
        ]
        dated = [end for end in ends if end != "—"]
        assert dated == sorted(dated, reverse=ordering.startswith("-")), ordering
    # each row names its location and its partner
    license = License.objects.select_related("partner").exclude(end_date=None).first()
    row = page.locator(f'tr[data-key="{license.key}"]')
    expect(row.get_by_test_id("license-partner")).to_have_text(license.partner.name)
    expect(row.get_by_test_id("license-location")).not_to_have_text("—")


def test_the_csv_link_downloads_the_pages_rows_with_names(open_as):
    page = open_as("iberia")
    page.goto("/licenses/?ordering=-end_date")
    shown = keys_shown(page)
    with page.expect_download() as download:
        page.get_by_test_id("licenses-csv").click()
    assert download.value.suggested_filename == "licenses.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["key"] for row in rows][: len(shown)] == shown
    assert len(rows) == visible("iberia").count()
    first = visible("iberia").select_related("distributor", "partner").get(key=rows[0]["key"])
    assert (rows[0]["distributor"], rows[0]["distributor_name"]) == (
        str(first.distributor_id),
        first.distributor.name,
    )
    assert (rows[0]["partner"], rows[0]["partner_name"]) == (
        str(first.partner_id),
        first.partner.name,
    )
    assert rows[0]["status_label"] == first.get_status_display()
