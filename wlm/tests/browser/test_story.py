"""The demo's story in a real browser: every tenant logs in, a partner requests a license,
the distributor approves it and downloads the certificate, the organization activates
the key (Send Key), five devices connect through the API and the license is In Use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses.models import License, LicenseStatus
from wlm.locations.models import Location

pytestmark = pytest.mark.browser

MALAGA = "Mar Azul Málaga"  # a hotel of the demo without a license


def visible_licenses(username: str):
    return License.objects.visible_to(get_user_model().objects.get(username=username))


@pytest.mark.parametrize(
    ("username", "tenant", "role"),
    [
        ("staff", "Platform operator", "Administrator"),
        ("iberia", "Iberia Wireless Distribution", "Administrator"),
        ("costa-viewer", "Costa Integraciones", "Viewer"),
        ("marazul", "Hotel Mar Azul", "Administrator"),
    ],
)
def test_each_tenant_logs_in_and_sees_its_own_licenses(open_as, username, tenant, role):
    page = open_as(username)
    who = page.get_by_test_id("who")
    expect(who).to_contain_text(username)
    expect(who).to_contain_text(tenant)
    expect(who).to_contain_text(role)

    page.get_by_role("link", name="Licenses", exact=True).click()
    rows = page.get_by_test_id("licenses-table").locator("tbody tr[data-key]")
    expected = set(visible_licenses(username).values_list("key", flat=True))
    expect(rows).to_have_count(len(expected))
    assert {row.get_attribute("data-key") for row in rows.all()} == expected


def test_log_out_ends_the_session(open_as):
    page = open_as("iberia")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/licenses/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/licenses/$"))


def test_request_approve_pdf_send_key_and_start(open_as, gateway):
    # the partner asks Iberia for a rooms license on the hotel's second location
    costa = open_as("costa")
    costa.goto("/requests/new/")
    form = costa.get_by_test_id("request-form")
    form.get_by_label("Location").select_option(label=f"{MALAGA} · Hospitality")
    form.get_by_label("Distributor").select_option(label="Iberia Wireless Distribution")
    form.get_by_label("Years").fill("2")
    form.get_by_label("Payment").select_option("annual")
    form.get_by_label("Rooms").fill("20")
    form.get_by_label("PMS").check()
    form.get_by_role("button", name="Send request").click()
    expect(costa.locator(".messages")).to_contain_text("Request sent")

    # the distributor approves it from its queue and downloads the certificate
    iberia = open_as("iberia")
    iberia.goto("/requests/")
    row = (
        iberia.get_by_test_id("requests-table")
        .locator("tbody tr", has_text=MALAGA)
        .filter(has_text="Pending")
    )
    row.get_by_role("link", name="Approve").or_(row.get_by_role("button", name="Approve")).click()
    iberia.get_by_role("button", name="Approve").click()
    expect(iberia.locator(".messages")).to_contain_text("License generated")
    license = License.objects.get(location__name=MALAGA)
    assert license.status == LicenseStatus.PENDING_PROVISION
    expect(iberia.get_by_test_id("license-status")).to_contain_text("Pending Provision")
    with iberia.expect_download() as download:
        iberia.get_by_test_id("license-pdf").click()
    certificate = download.value
    assert certificate.suggested_filename.endswith(".pdf")
    assert Path(certificate.path()).read_bytes()[:5] == b"%PDF-"

    # the hotel activates the key on the location (Send Key): Pending Start
    marazul = open_as("marazul")
    marazul.get_by_role("link", name="Locations", exact=True).click()
    location = Location.objects.get(name=MALAGA)
    marazul.locator(f'[data-testid="locations-table"] tr[data-id="{location.pk}"]').get_by_role(
        "button", name="License"
    ).click()
    send_key = marazul.get_by_test_id("send-key-form")
    send_key.get_by_label("License key").fill(license.key)
    send_key.get_by_role("button", name=re.compile("Send")).click()
    expect(marazul.get_by_test_id("license-status")).to_contain_text("Pending Start")

    # five distinct devices connect through the data plane's API: the license starts
    answer = gateway(
        [{"location": str(location.pk), "device": f"02:00:00:00:00:0{n}"} for n in range(1, 6)]
    )
    assert answer["accepted"] == 5
    assert answer["started"] == [license.pk]
    marazul.goto("/licenses/")
    row = marazul.locator(f'[data-testid="licenses-table"] tr[data-key="{license.key}"]')
    expect(row.get_by_test_id("license-status")).to_contain_text("In Use")


def test_send_key_shows_a_clear_error_for_an_unknown_key(open_as):
    page = open_as("marazul")
    location = Location.objects.get(name=MALAGA)
    page.goto(f"/locations/{location.pk}/send-key/")
    form = page.get_by_test_id("send-key-form")
    form.get_by_label("License key").fill("AAAA-BBBB-CCCC-DDDD")
    form.get_by_role("button", name=re.compile("Send")).click()
    expect(page.get_by_role("alert")).to_contain_text(
        "No license with this key can be activated here"
    )
    assert not License.objects.filter(location=location).exists()


def test_viewer_sees_no_write_action(open_as):
    page = open_as("iberia-viewer")
    license = visible_licenses("iberia-viewer").get(location__name="Mar Azul Benidorm")
    page.goto(f"/licenses/{license.pk}/")
    expect(page.get_by_test_id("license-status")).to_contain_text("In Use")
    for action in ("Upgrade", "Renew", "Deny", "Cancel"):
        expect(page.get_by_role("link", name=action, exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)


def _click_action(page: Page, name: str) -> None:
    page.locator(".actions").get_by_role("link", name=name, exact=True).or_(
        page.locator(".actions").get_by_role("button", name=name, exact=True)
    ).click()


def test_deny_and_restore(open_as):
    page = open_as("iberia")
    license = visible_licenses("iberia").get(location__name="Mar Azul Benidorm")
    page.goto(f"/licenses/{license.pk}/")

    _click_action(page, "Deny")
    page.get_by_label("Reason").fill("Payment overdue")
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_test_id("license-status")).to_contain_text("Access denied")
    license.refresh_from_db()
    assert license.status == LicenseStatus.ACCESS_DENIED

    _click_action(page, "Restore")
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_test_id("license-status")).to_contain_text("In Use")
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE

    page.get_by_role("link", name="Upgrades").click()
    panel = page.get_by_test_id("tab-panel")
    expect(panel).to_contain_text("Payment overdue")


def test_deny_needs_a_reason(open_as):
    page = open_as("iberia")
    license = visible_licenses("iberia").get(location__name="Mar Azul Benidorm")
    page.goto(f"/licenses/{license.pk}/")
    _click_action(page, "Deny")
    page.get_by_label("Reason").fill("")
    page.get_by_label("Reason").evaluate("field => field.removeAttribute('required')")
    page.get_by_role("button", name="Deny").click()
    expect(page.locator(".errorlist, .form-errors").first).to_be_visible()
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
