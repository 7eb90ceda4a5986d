"""Bulk actions in a real browser: the distributor selects three rows of the licenses
list, renews them by a year, confirms "Renew 3 licenses by 1 year?", and the job's page
shows the progress and then, polling by itself, each license's result — all under the
Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from wlm.licenses import bulk
from wlm.licenses.models import BulkJob, BulkJobState, EventKind, License, LicenseEvent
from wlm.tests.browser.test_csp import Watch

pytestmark = pytest.mark.browser


def test_select_three_rows_renew_see_progress_then_results(open_as, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_MAX", 0)  # queued: the notifier's work, done below
    user = get_user_model().objects.get(username="iberia")
    in_use = License.objects.visible_to(user).filter(status="in_use")
    assert in_use.count() >= 3  # the demo's
    page = open_as("iberia")
    watch = Watch(page)  # no refusal of the policy, no script error, on any of the pages
    page.goto("/licenses/?status=in_use")
    table = page.get_by_test_id("licenses-table")
    boxes = table.get_by_test_id("bulk-select")
    expect(boxes).to_have_count(in_use.count())
    count = page.get_by_test_id("bulk-count")
    expect(count).to_have_text("No rows selected")

    # "select every row of this page" (script), then three rows by hand
    every = table.get_by_label("Select every row of this page")
    every.check()
    expect(count).to_have_text(f"{in_use.count()} rows selected")
    every.uncheck()
    chosen = []
    for index in range(3):
        boxes.nth(index).check()
        chosen.append(int(boxes.nth(index).get_attribute("value")))
    expect(count).to_have_text("3 rows selected")

    bar = page.get_by_test_id("bulk-bar")
    bar.get_by_test_id("bulk-action").select_option("renew")
    expect(bar.get_by_test_id("bulk-years")).to_be_visible()
    bar.get_by_test_id("bulk-years").select_option("1")
    bar.get_by_test_id("bulk-continue").click()

    expect(page.get_by_test_id("bulk-question")).to_have_text("Renew 3 licenses by 1 year?")
    page.get_by_test_id("bulk-submit").click()
    page.wait_for_url(re.compile(r"/licenses/bulk/\d+/$"))
    job = BulkJob.objects.get()
    assert sorted(job.items.values_list("license_id", flat=True)) == sorted(chosen)
    panel = page.get_by_test_id("bulk-job")
    expect(panel).to_have_attribute("data-state", "queued")
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("0 of 3 processed")

    assert bulk.work() == 3  # the notifier's turn; the page asks again every second
    expect(panel).to_have_attribute("data-state", "finished")
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("3 of 3 processed")
    rows = page.get_by_test_id("bulk-results").locator("tbody tr[data-outcome]")
    expect(rows).to_have_count(3)
    job.refresh_from_db()
    assert job.state == BulkJobState.FINISHED and job.done + job.refused == 3
    expect(page.locator('tr[data-outcome="done"]')).to_have_count(job.done)
    renewed = LicenseEvent.objects.filter(kind=EventKind.RENEWED, license_id__in=chosen)
    assert renewed.count() == job.done

    page.get_by_test_id("bulk-outcomes").get_by_role("link", name=re.compile("^Done")).click()
    expect(page.locator('tr[data-outcome="done"]')).to_have_count(job.done)
    expect(page.locator('tr[data-outcome="refused"]')).to_have_count(0)
    watch.assert_clean()
