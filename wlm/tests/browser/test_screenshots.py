"""The main pages render for their users; ``make screenshots`` keeps the pictures of
docs/screenshots/ (shown in the README) from this test, other runs write to a temporary
folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from wlm.licenses.models import License
from wlm.locations.models import Location
from wlm.tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("WLM_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_main_pages(open_as, shots):
    anonymous = open_as(None)
    anonymous.goto("/accounts/login/")
    anonymous.screenshot(path=shots / "login.png")

    iberia = open_as("iberia")
    expect(iberia.get_by_test_id("dashboard-status-in_use")).to_be_visible()
    iberia.screenshot(path=shots / "dashboard.png", full_page=True)

    iberia.goto("/licenses/")
    expect(iberia.get_by_test_id("licenses-table")).to_be_visible()
    iberia.screenshot(path=shots / "licenses.png", full_page=True)

    user = get_user_model().objects.get(username="iberia")
    benidorm = License.objects.visible_to(user).get(location__name="Mar Azul Benidorm")
    iberia.goto(f"/licenses/{benidorm.pk}/?tab=upgrades")
    expect(iberia.get_by_test_id("tab-panel")).to_contain_text("New wing")
    iberia.screenshot(path=shots / "license.png", full_page=True)

    iberia.goto("/requests/")
    expect(iberia.get_by_test_id("requests-table")).to_be_visible()
    iberia.screenshot(path=shots / "requests.png", full_page=True)

    costa = open_as("costa")
    costa.goto("/requests/new/")
    expect(costa.get_by_test_id("request-form")).to_be_visible()
    costa.screenshot(path=shots / "request-form.png", full_page=True)

    marazul = open_as("marazul")
    marazul.goto("/locations/")
    marazul.get_by_test_id("locations-filters").locator("summary").click()
    expect(marazul.get_by_test_id("locations-table")).to_be_visible()
    marazul.screenshot(path=shots / "locations.png", full_page=True)

    malaga = Location.objects.get(name="Mar Azul Málaga")
    marazul.goto(f"/locations/{malaga.pk}/send-key/")
    expect(marazul.get_by_test_id("send-key-form")).to_be_visible()
    marazul.screenshot(path=shots / "send-key.png", full_page=True)

    phone = open_as("mercado", viewport=PHONE)
    phone.goto("/licenses/")
    expect(phone.get_by_test_id("licenses-table")).to_be_visible()
    phone.screenshot(path=shots / "phone-licenses.png", full_page=True)

    taken = sorted(path.name for path in shots.glob("*.png"))
    assert len(taken) >= 9, taken


def test_verify_page(open_as, shots):
    from wlm.licenses import tokens

    license = License.objects.filter(status="in_use").first()
    stranger = open_as(None)
    stranger.goto(f"/verify/#{tokens.latest(license)}")
    expect(stranger.get_by_test_id("verdict")).to_contain_text("Valid")
    stranger.screenshot(path=shots / "verify.png", full_page=True)
