"""Browser tests: Playwright drives Debian's Chromium (``/usr/bin/chromium``, installed by
``make test``; a browser download fails on this network) against a live server with the
demo data (``manage.py seed_demo``), as a new user of ``make run`` would see it.

Each test starts its own Playwright and browser (about a second): the sync API runs an
event loop in the test's thread while it lives, and Django refuses the ORM in a thread
with a running loop, so the loop must not outlive the test (the ORM calls of the test
itself are allowed with ``DJANGO_ALLOW_ASYNC_UNSAFE`` for its duration only).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect, sync_playwright

from wlm.conftest import token_for
from wlm.tenancy.models import Membership
from wlm.tests import snapshot

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Waits: a page's actions and the assertions that wait for it share one limit. Under
# `make test` two suites share the two cores, and Redoc alone takes seconds to render the
# whole schema: Playwright's 5 s default for assertions failed there once (CI, stop 26).
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)
# As root, without a sandbox; no background traffic (this machine's network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DEMO_PASSWORD = "wifi-demo-2026"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
ROOT = Path(__file__).resolve().parents[3]
FAILURES = ROOT / "data" / "browser-failures"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture
def browser(monkeypatch) -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def demo(transactional_db):
    """The demo data of ``make run`` (``manage.py seed_demo``, run once a session and
    copied back before each test: wlm.tests.snapshot)."""
    snapshot.demo()


@pytest.fixture
def open_as(browser, live_server, demo, request) -> Callable[..., Page]:
    """``open_as("iberia")``: a page in a fresh browser context, logged in through the
    login form, reading ``language`` (the user's setting and the browser's). A failing test
    leaves a screenshot of each page in data/browser-failures/."""
    pages: list[Page] = []

    def open_page(username: str | None, viewport: dict = DESKTOP, language: str = "en") -> Page:
        # the demo's Spanish tenants' users read Spanish: a test says which language it
        # reads (the page's words are asserted), English unless it asks
        if username is not None:
            Membership.objects.filter(user__username=username).update(language=language)
        context = browser.new_context(base_url=live_server.url, viewport=viewport, locale=language)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        pages.append(page)
        if username is not None:
            log_in(page, username)
        return page

    yield open_page
    if getattr(request.node, "failed_call", False):
        FAILURES.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages):
            page.screenshot(path=FAILURES / f"{request.node.name}-{index}.png", full_page=True)
    for page in pages:
        page.context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    # by the fields' names: the page speaks the browser's language
    form = page.locator('form:has(input[name="password"])')
    form.locator('input[name="username"]').fill(username)
    form.locator('input[name="password"]').fill(DEMO_PASSWORD)
    form.locator('button[type="submit"]').click()
    page.wait_for_url("**/")


@pytest.fixture
def gateway(live_server, demo) -> Callable[[list[dict]], dict]:
    """Posts connection events as the data plane does (the demo's ``gateway`` token)."""
    user = get_user_model().objects.get(username="gateway")
    token = token_for(user)

    def post(events: list[dict]) -> dict:
        call = urllib.request.Request(
            f"{live_server.url}/api/v1/connections/",
            data=json.dumps({"events": events}).encode(),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(call, timeout=15) as response:
            return json.loads(response.read())

    return post
