"""The dashboard's chart in a real browser (demo data): drawn at 1366 px and at 390 px
within the page's width, its month names legible and apart, its colours from the style
sheet (the CSP refuses style attributes), a bar leading to the list of its licenses; and
in Spanish."""

from __future__ import annotations

import itertools
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.lib import clock
from wlm.licenses.models import License
from wlm.tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_ES = ("Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic")


def expected_labels(names: tuple[str, ...]) -> list[str]:
    month = clock.today_in("UTC").month
    return [names[(month - 1 + offset) % 12] for offset in range(12)]


def check_chart_fits(page: Page, viewport: dict, names: tuple[str, ...]) -> None:
    chart = page.locator("svg.ending-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["x"] > 0 and box["x"] + box["width"] <= viewport["width"]
    # the page does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    labels = chart.locator("text.chart-label")
    assert labels.all_text_contents() == expected_labels(names)
    boxes = [label.bounding_box() for label in labels.all()]
    for left, right in itertools.pairwise(boxes):
        assert left["x"] + left["width"] < right["x"], "month names overlap"
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('text.chart-label')).fontSize)"
    )
    assert size >= 11
    # a bar is painted with its status's colour from app.css, not the default black
    fill = page.evaluate("getComputedStyle(document.querySelector('svg.ending-chart rect')).fill")
    assert fill not in ("", "rgb(0, 0, 0)")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_chart_fits_the_screen_and_a_bar_opens_its_licenses(open_as, viewport):
    page = open_as("iberia", viewport)
    check_chart_fits(page, viewport, MONTHS_EN)
    bar = page.locator("svg.ending-chart a[data-status]").first
    status, count = bar.get_attribute("data-status"), int(bar.get_attribute("data-count"))
    bar.locator("rect").click()
    expect(page).to_have_url(re.compile(rf"/licenses/\?status={status}&end_after=.*&end_before="))
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    expect(rows).to_have_count(count)
    user = get_user_model().objects.get(username="iberia")
    shown = set(rows.evaluate_all("rows => rows.map(row => row.dataset.key)"))
    query = dict(re.findall(r"(end_after|end_before)=([\d-]+)", page.url))
    expected = License.objects.visible_to(user).filter(
        status=status, end_date__gte=query["end_after"], end_date__lte=query["end_before"]
    )
    assert shown == set(expected.values_list("key", flat=True))


def test_the_chart_in_spanish_on_a_phone(open_as):
    page = open_as("mercado", PHONE, language="es")
    check_chart_fits(page, PHONE, MONTHS_ES)
    table = page.get_by_test_id("ending-chart-table")
    table.locator("summary").click()
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(table.locator("tbody th").first).to_contain_text(" de 20")  # "junio de 2026"


def test_a_bar_is_a_named_link_for_the_keyboard(open_as):
    page = open_as("staff")
    bar = page.locator("svg.ending-chart a[data-status]").first
    name = bar.get_attribute("aria-label")
    assert re.fullmatch(r"\w+ \d{4} · [\w ]+: \d+", name), name
    expect(page.get_by_role("link", name=name)).to_have_count(1)
    bar.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/licenses/\?status=\w+&end_after=.*&end_before="))
