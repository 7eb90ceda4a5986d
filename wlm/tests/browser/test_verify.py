"""The signed license as a stranger meets it: the demo's certificate downloaded from the
license page, its verify code decoded by zbar as a phone at arm's length would, the link
opened in a browser that is not logged in — valid; one character of the token changed —
not valid, and why; a replaced token — superseded."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses import lifecycle, signing, verification
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.tests.test_pdf import ARMS_LENGTH_DPI
from wlm.licenses.tests.test_verify import signed_elsewhere, tampered
from wlm.tests.browser.test_csp import Watch

pytestmark = pytest.mark.browser


def demo_license(username: str) -> License:
    user = get_user_model().objects.get(username=username)
    return License.objects.visible_to(user).filter(status=LicenseStatus.IN_USE).first()


def scanned_link(page: Page, license: License) -> str:
    """The certificate downloaded from the license page, its verify code decoded."""
    page.goto(f"/licenses/{license.pk}/")
    with page.expect_download() as download:
        page.get_by_test_id("license-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    links = [
        code
        for code in verification.qr_codes_in_pdf(pdf, dpi=ARMS_LENGTH_DPI)
        if "/verify/#" in code
    ]
    assert len(links) == 1
    return links[0]


def open_link(open_as, link: str, live_url: str) -> Watch:
    """``link`` opened by a stranger (a fresh browser, not logged in), on the live server
    (the link names PUBLIC_URL, the address of ``make run``)."""
    assert link.startswith(f"{settings.PUBLIC_URL}/verify/#")
    fresh = open_as(None)
    watch = Watch(fresh)
    fresh.goto(live_url + link.removeprefix(settings.PUBLIC_URL))
    expect(fresh.get_by_test_id("verdict")).to_be_visible()
    watch.settle()
    return watch


def test_a_demo_certificate_scans_to_a_valid_verdict_and_one_edit_breaks_it(open_as, live_server):
    license = demo_license("iberia")
    link = scanned_link(open_as("iberia"), license)
    token = verification.token_of(link)

    watch = open_link(open_as, link, live_server.url)
    page = watch.page
    expect(page.get_by_test_id("verdict")).to_contain_text("Valid")
    expect(page.get_by_test_id("fingerprint")).to_have_text(signing.fingerprint(token))
    terms = page.get_by_test_id("terms")
    expect(terms).to_contain_text(license.key)
    expect(terms).to_contain_text(license.distributor.name)
    expect(terms).to_contain_text(license.end_date.isoformat())
    watch.assert_clean()

    edited = link.removesuffix(token) + tampered(token)
    watch = open_link(open_as, edited, live_server.url)
    verdict = watch.page.get_by_test_id("verdict")
    expect(verdict).to_contain_text("Not valid")
    expect(verdict).to_contain_text("the token was changed after it was signed")
    expect(watch.page.get_by_test_id("terms")).to_have_count(0)
    watch.assert_clean()


def test_a_forged_and_a_superseded_token_in_the_browser(open_as, live_server):
    license = demo_license("iberia")
    link = scanned_link(open_as("iberia"), license)
    token = verification.token_of(link)

    forged_claims = signing.verify(token)
    forged_claims["lic"]["limit"] = 9999
    forged = link.removesuffix(token) + signed_elsewhere(forged_claims)
    verdict = open_link(open_as, forged, live_server.url).page.get_by_test_id("verdict")
    expect(verdict).to_contain_text("None of this platform's published keys signed the token")

    distributor = get_user_model().objects.get(username="iberia")
    lifecycle.upgrade(distributor, license.pk, limit=license.limit + 1)
    watch = open_link(open_as, link, live_server.url)
    expect(watch.page.get_by_test_id("verdict")).to_contain_text("a newer token was issued")
    expect(watch.page.get_by_test_id("terms")).to_contain_text("Terms this token carried")
    watch.assert_clean()
