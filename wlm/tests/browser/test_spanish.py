"""The demo's story read in Spanish, in a real browser (docs/i18n.md): a partner requests
a license, the distributor approves it and downloads the certificate (in the hotel's
language: Spanish), the hotel sends the key, five devices start it, the licenses list
with its filters, every tab of the license view and the inbox — each page's words those
of the Spanish catalogue. ``make screenshots`` keeps the pictures in
docs/screenshots/es/. The switch in the header changes the next page's language."""

from __future__ import annotations

import os
import re
from io import BytesIO
from pathlib import Path

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.views.licenses import TABS
from wlm.locations.models import Location
from wlm.tenancy.models import Membership
from wlm.tests.i18n import spanish as es

pytestmark = pytest.mark.browser

MALAGA = "Mar Azul Málaga"  # a hotel of the demo without a license


@pytest.fixture
def shots(tmp_path) -> Path:
    base = os.environ.get("WLM_SCREENSHOTS")
    folder = Path(base) / "es" if base else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def test_the_story_in_spanish(open_as, gateway, shots):
    costa = open_as("costa", language="es")
    costa.goto("/requests/new/")
    expect(costa.locator("html")).to_have_attribute("lang", "es")
    form = costa.get_by_test_id("request-form")
    form.get_by_label(es("Location"), exact=True).select_option(
        label=f"{MALAGA} · {es('Hospitality')}"
    )
    form.get_by_label(es("Distributor"), exact=True).select_option(
        label="Iberia Wireless Distribution"
    )
    form.get_by_label(es("Years"), exact=True).fill("2")
    form.get_by_label(es("Payment"), exact=True).select_option("annual")
    form.get_by_label(es("Rooms limit"), exact=True).fill("20")
    form.get_by_label("PMS").check()
    shoot(costa, shots, "request-form")
    form.get_by_role("button", name=es("Send request")).click()
    sent = es("Request sent to %(name)s.") % {"name": "Iberia Wireless Distribution"}
    expect(costa.locator(".messages")).to_contain_text(sent)

    iberia = open_as("iberia", language="es")
    iberia.goto("/requests/")
    row = iberia.get_by_test_id("requests-table").locator("tbody tr", has_text=MALAGA)
    shoot(iberia, shots, "requests")
    approve = es("Approve")
    row.get_by_role("link", name=approve).or_(row.get_by_role("button", name=approve)).click()
    iberia.get_by_role("button", name=approve).click()
    license = License.objects.get(location__name=MALAGA)
    generated = es("License generated: %(key)s") % {"key": license.key}
    expect(iberia.locator(".messages")).to_contain_text(generated)
    expect(iberia.get_by_test_id("license-status")).to_contain_text(es("Pending Provision"))
    with iberia.expect_download() as download:
        iberia.get_by_test_id("license-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages).split())
    assert es("License certificate") in text and "License certificate" not in text

    marazul = open_as("marazul", language="es")
    marazul.get_by_role("link", name=es("Locations"), exact=True).click()
    location = Location.objects.get(name=MALAGA)
    shoot(marazul, shots, "locations")
    marazul.locator(f'[data-testid="locations-table"] tr[data-id="{location.pk}"]').get_by_role(
        "button", name=es("License")
    ).click()
    send_key = marazul.get_by_test_id("send-key-form")
    send_key.get_by_label(es("License key")).fill(license.key)
    shoot(marazul, shots, "send-key")
    send_key.get_by_role("button", name=re.compile(es("Send Key"))).click()
    expect(marazul.get_by_test_id("license-status")).to_contain_text(es("Pending Start"))

    answer = gateway(
        [{"location": str(location.pk), "device": f"02:00:00:00:00:0{n}"} for n in range(1, 6)]
    )
    assert answer["started"] == [license.pk]
    assert License.objects.get(pk=license.pk).status == LicenseStatus.IN_USE

    # the licenses list and its filters
    marazul.goto("/licenses/?status=in_use")
    row = marazul.locator(f'[data-testid="licenses-table"] tr[data-key="{license.key}"]')
    expect(row.get_by_test_id("license-status")).to_contain_text(es("In Use"))
    end = License.objects.get(pk=license.pk).end_date
    expect(row).to_contain_text(end.strftime("%d/%m/%Y"))  # dates as Spain writes them
    shoot(marazul, shots, "licenses")

    # every tab of the license view
    marazul.goto(f"/licenses/{license.pk}/")
    for tab, label in TABS:
        link = marazul.locator(f'a[data-tab="{tab}"]')
        with translation.override("en"):
            english = str(label)
        expect(link).to_have_text(es(english))
        link.click()
        expect(link).to_have_attribute("aria-current", "page")
        expect(marazul.locator(f'[data-tab-content="{tab}"]')).to_be_visible()
        shoot(marazul, shots, f"license-{tab}")

    # the inbox
    marazul.get_by_role("link", name=es("Inbox"), exact=True).click()
    expect(marazul.get_by_role("heading", level=1)).to_contain_text(es("Inbox"))
    shoot(marazul, shots, "inbox")

    iberia.goto("/")
    shoot(iberia, shots, "dashboard")


def test_the_header_switch_changes_the_next_page(open_as):
    page = open_as("offices")  # an English reader
    expect(page.get_by_role("link", name="Licenses", exact=True)).to_be_visible()
    page.get_by_test_id("language-switch").get_by_role("button", name="Español").click()
    expect(page.get_by_role("link", name=es("Licenses"), exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert Membership.objects.get(user__username="offices").language == "es"
    page.goto("/licenses/")  # and it stays
    expect(page.get_by_role("link", name=es("Dashboard"), exact=True)).to_be_visible()
    page.get_by_test_id("language-switch").get_by_role("button", name="English").click()
    expect(page.get_by_role("link", name="Dashboard", exact=True)).to_be_visible()


def test_the_profile_page_sets_the_language(open_as):
    page = open_as("campus")
    page.get_by_test_id("profile-link").click()
    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text(es("Your language is saved."))
    page.get_by_role("link", name=es("Locations"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(es("Locations"))
