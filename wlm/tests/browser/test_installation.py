"""Installation mode in a real browser (docs/connections.md, docs/pages.md): the partner
puts a hotel whose license waits for its devices in installation, the installer tests with
six devices through the data plane's API, and the hotel's license view still says Pending
Start, with the hotel named as in installation; switched off, the real guests start it.
And the partner's installer devices page: a test phone added, then never counted."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from wlm.connections.models import InstallerDevice
from wlm.licenses import lifecycle, services
from wlm.licenses.models import License, LicenseStatus
from wlm.locations.models import Location
from wlm.tenancy.models import Distributor
from wlm.tests.browser.test_csp import Watch

pytestmark = pytest.mark.browser

MALAGA = "Mar Azul Málaga"  # a hotel of the demo without a license


def pending_license_at_malaga() -> License:
    """Iberia's license for the hotel, activated by the hotel (Send Key: its own story,
    test_story.py): Pending Start, waiting for five devices."""
    users = get_user_model().objects
    location = Location.objects.get(name=MALAGA)
    terms = services.Terms(
        location=location,
        distributor=Distributor.objects.get(name="Iberia Wireless Distribution"),
        years=2,
        payment="annual",
        rooms=20,
    )
    license = services.create_license(users.get(username="iberia"), terms)
    return lifecycle.provision(users.get(username="marazul"), location, license.key)


def devices(location: Location, prefix: str, count: int) -> list[dict]:
    return [{"location": str(location.pk), "device": f"{prefix}:{n:02X}"} for n in range(count)]


def test_a_hotel_in_installation_stays_pending_start_while_six_devices_test(open_as, gateway):
    license = pending_license_at_malaga()
    location = Location.objects.get(name=MALAGA)

    # the partner opens the hotel's installation page from the locations list
    costa = open_as("costa")
    watch = Watch(costa)
    costa.goto("/locations/")
    row = costa.locator(f'[data-testid="locations-table"] tr[data-id="{location.pk}"]')
    row.get_by_test_id("installation-button").click()
    form = costa.get_by_test_id("installation-form")
    form.get_by_label("When switched off").check()
    form.get_by_role("button", name="Start installation").click()
    expect(costa.locator(".messages")).to_contain_text("until it is switched off")
    expect(costa.get_by_test_id("installation-state")).to_have_attribute("data-active", "true")
    costa.goto("/locations/")
    expect(row.get_by_test_id("installation-badge")).to_have_text("In installation")

    # the installer tests with six devices: recorded, not counted
    answer = gateway(devices(location, "02:1A:B0:00:00", 6))
    assert answer == {"accepted": 6, "duplicates": 0, "rejected": [], "started": []}

    # the hotel's license view: still Pending Start, and it says why
    marazul = open_as("marazul")
    marazul.goto(f"/licenses/{license.pk}/")
    expect(marazul.get_by_test_id("license-status")).to_contain_text("Pending Start")
    expect(marazul.get_by_test_id("start-progress")).to_have_attribute("data-seen", "0")
    expect(marazul.get_by_test_id("license-installation")).to_contain_text(
        f"{MALAGA} is in installation until it is switched off"
    )
    marazul.get_by_role("link", name="Assignments").click()
    expect(marazul.get_by_test_id("tab-panel").get_by_test_id("installation-badge")).to_be_visible()
    assert License.objects.get(pk=license.pk).status == LicenseStatus.PENDING_START

    # the hotel opens: its admin switches installation off, five guests start the license
    marazul.goto(f"/locations/{location.pk}/installation/")
    marazul.get_by_role("button", name="End installation now").click()
    expect(marazul.locator(".messages")).to_contain_text("connections count from now on")
    expect(marazul.get_by_test_id("installation-state")).to_have_attribute("data-active", "false")
    answer = gateway(devices(location, "AA:BB:CC:00:00", 5))
    assert answer["started"] == [license.pk]
    marazul.goto(f"/licenses/{license.pk}/")
    expect(marazul.get_by_test_id("license-status")).to_contain_text("In Use")
    expect(marazul.get_by_test_id("license-installation")).to_have_count(0)
    watch.assert_clean()


def test_the_partner_registers_a_test_phone_that_never_counts(open_as, gateway):
    license = pending_license_at_malaga()
    location = Location.objects.get(name=MALAGA)
    costa = open_as("costa")
    watch = Watch(costa)
    costa.goto("/locations/")
    costa.get_by_test_id("installer-devices-link").click()
    form = costa.get_by_test_id("installer-device-form")
    form.get_by_label("MAC address").fill("02-1a-b0-00-00-07")
    form.get_by_label("Label").fill("Installer's phone")
    form.get_by_role("button", name="Add device").click()
    expect(costa.locator(".messages")).to_contain_text("Installer device added: Installer's phone")
    table = costa.get_by_test_id("installer-devices-table")
    expect(table.locator("tbody tr[data-id]")).to_have_count(1)
    expect(table).not_to_contain_text("02:1A")  # only a hash is kept
    # the same phone again, in another notation: refused on the form
    form.get_by_label("MAC address").fill("021A.B000.0007")
    form.get_by_role("button", name="Add device").click()
    expect(costa.get_by_role("alert")).to_contain_text("already one of the partner's")
    assert InstallerDevice.objects.count() == 1

    # the phone and four guests: four count, no start
    phone = {"location": str(location.pk), "device": "02:1A:B0:00:00:07"}
    answer = gateway([phone, *devices(location, "AA:BB:CC:00:00", 4)])
    assert answer["started"] == []
    marazul = open_as("marazul")
    marazul.goto(f"/licenses/{license.pk}/")
    expect(marazul.get_by_test_id("start-progress")).to_have_attribute("data-seen", "4")

    # removed, the phone counts like any device from then on
    costa.goto("/installer-devices/")
    table.get_by_role("button", name="Remove").click()
    expect(costa.locator(".messages")).to_contain_text("Installer device removed")
    assert not InstallerDevice.objects.exists()
    answer = gateway([phone])
    assert answer["started"] == [license.pk]
    watch.assert_clean()
