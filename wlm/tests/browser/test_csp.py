"""The Content-Security-Policy in a real browser: every page of the product, as the demo
users see it, with its htmx swaps, the admin and the API docs, and not one thing the
policy refuses (no inline script or style, no eval, nothing from another origin) nor an
uncaught script error.

The page reports each refusal twice: Chromium's console line ("Refused to …") and the
``securitypolicyviolation`` event, which a test-side init script forwards to the test.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses.models import License, LicenseRequest, RequestState
from wlm.locations.models import Location
from wlm.notifications.services import inbox_of
from wlm.notifications.worker import run_pass
from wlm.tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"}` +
    ` (${event.sourceFile || document.location.pathname}:${event.lineNumber})`
  );
});
"""


class Watch:
    """What the browser refused or failed on in one page's context, across navigations."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.context.expose_function("cspViolation", self._violation)
        page.context.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{self._where()} error {error}"))

    def _where(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def _violation(self, text: str) -> None:
        self.problems.append(f"{self._where()} CSP {text}")

    def _console(self, message) -> None:
        if message.text.startswith("Failed to load resource"):
            # the answer of a refused form (400) or the browser's own favicon request,
            # not a resource the page asked for
            url = message.location.get("url", "")
            if url == self.page.url or url.endswith("/favicon.ico"):
                return
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"{self._where()} console {message.type}: {message.text}")

    def settle(self) -> None:
        """Wait for htmx to finish its requests and swaps, and for the page's event loop
        to deliver what it reported."""
        self.page.wait_for_function("() => !document.querySelector('.htmx-request')")
        self.page.evaluate("() => new Promise((done) => setTimeout(done, 0))")

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.ok, (url, response and response.status)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        self.page.wait_for_load_state("load")
        self.settle()

    def assert_clean(self, refused_on: tuple[str, str] | None = None) -> None:
        """No problem, but the one ``(path, url)`` refusal a test expects."""
        self.settle()
        problems = [
            problem
            for problem in self.problems
            if not (refused_on and problem.startswith(refused_on[0]) and refused_on[1] in problem)
        ]
        assert problems == [], "\n".join(problems)


@pytest.fixture
def watch_as(open_as):
    """``watch_as("iberia")``: a logged-in page and the watch over it."""

    def open_watched(username: str | None) -> tuple[Page, Watch]:
        page = open_as(username)
        return page, Watch(page)

    return open_watched


def visible_license(username: str, location: str) -> License:
    user = get_user_model().objects.get(username=username)
    return License.objects.visible_to(user).get(location__name=location)


def test_sign_in_pages_run_under_the_policy(watch_as):
    page, watch = watch_as(None)
    watch.visit("/accounts/login/")
    page.get_by_label("Username").fill("marazul")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-errors, .errorlist").first).to_be_visible()
    watch.visit("/accounts/password_reset/")
    page.get_by_label("Email").fill("marazul@demo.example")
    page.get_by_role("button").last.click()
    page.wait_for_url("**/password_reset/done/")
    watch.visit("/accounts/login/")
    page.get_by_label("Username").fill("marazul")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    watch.visit("/accounts/password_change/")
    watch.assert_clean()


def test_distributor_pages_and_their_htmx_swaps(watch_as):
    page, watch = watch_as("iberia")
    watch.visit("/")
    # the licenses list: a status filter and a sort header, both swapped in by htmx
    watch.visit("/licenses/")
    filters = page.get_by_test_id("licenses-filters")
    filters.get_by_label("In Use").check()
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=in_use"))
    watch.settle()
    page.get_by_test_id("licenses-table").get_by_role("link", name="End date").click()
    expect(page).to_have_url(re.compile(r"ordering=end_date"))
    watch.settle()
    # the license view: every tab (htmx swaps the panel) and an action's dialog
    license = visible_license("iberia", "Mar Azul Benidorm")
    watch.visit(f"/licenses/{license.pk}/")
    panel = page.get_by_test_id("tab-panel")
    for name, text in [
        ("Platform modules", "PMS"),
        ("Upgrades", "New wing"),
        ("Notifications", ""),
        ("Assignments", "Mar Azul Benidorm"),
        ("General data", "Hotel Mar Azul"),
    ]:
        page.get_by_role("link", name=name).click()
        expect(panel).to_contain_text(text)
        watch.settle()
    page.locator("a.action-link[data-action=renew]").click()
    expect(page.get_by_test_id("action-dialog")).to_be_visible()
    watch.settle()
    # the locations list with its search panel (a change submits it through htmx)
    watch.visit("/locations/")
    search = page.get_by_test_id("locations-filters")
    search.locator("summary").click()
    search.get_by_label("Access denied").check()
    expect(page).to_have_url(re.compile(r"license_status=access_denied"))
    watch.settle()
    # the requests: the queue, a state filter through htmx, approve and reject
    watch.visit("/requests/")
    page.get_by_test_id("all-link").click()
    watch.settle()
    page.get_by_test_id("requests-filters").get_by_label("Rejected").check()
    expect(page).to_have_url(re.compile(r"state=rejected"))
    watch.settle()
    pending = LicenseRequest.objects.filter(
        distributor__name="Iberia Wireless Distribution", state=RequestState.PENDING
    ).first()
    watch.visit(f"/requests/{pending.pk}/approve/")
    watch.visit(f"/requests/{pending.pk}/reject/")
    watch.visit("/inbox/")
    watch.assert_clean()


def test_organization_pages_send_key_and_inbox(watch_as):
    run_pass()  # the notices due now (Valencia ends in 20 days) reach the inboxes
    user = get_user_model().objects.get(username="mercado")
    assert inbox_of(user).filter(read_at=None).exists()
    page, watch = watch_as("mercado")
    watch.visit("/")
    watch.visit("/locations/")
    location = Location.objects.get(name="Mercado Central Valencia")
    watch.visit(f"/locations/{location.pk}/send-key/")
    page.get_by_test_id("send-key-form").get_by_role("textbox").fill(
        "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    )
    page.get_by_test_id("send-key-form").get_by_role("button", name="Send Key").click()
    expect(page.locator(".form-errors, .errorlist").first).to_be_visible()
    watch.settle()
    # the inbox: "Mark as read" swaps the item in place through htmx
    watch.visit("/inbox/")
    item = page.locator("li.inbox-item[data-read=false]").first
    item_id = item.get_attribute("data-id")
    item.get_by_role("button", name="Mark as read").click()
    expect(page.locator(f"li.inbox-item[data-id='{item_id}']")).to_have_attribute(
        "data-read", "true"
    )
    watch.assert_clean()


def test_partner_request_form(watch_as):
    page, watch = watch_as("costa")
    watch.visit("/requests/")
    watch.visit("/requests/new/")
    select = page.locator("select[data-limit-select]")
    values = select.locator("option").evaluate_all(
        "(options) => options.map((o) => o.value).filter(Boolean)"
    )
    for value in values[:2]:  # app.js shows the limit the location takes
        select.select_option(value)
    watch.assert_clean()


def test_admin_and_api_docs(watch_as):
    page, watch = watch_as("staff")
    watch.visit("/admin/")
    watch.visit("/admin/licenses/license/")
    page.locator("#result_list tbody a").first.click()
    page.wait_for_url(re.compile(r"/admin/licenses/license/\d+/change/"))
    watch.settle()
    watch.visit("/api/v1/licenses/")  # the browsable API
    watch.visit("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("WiFi License Manager")
    page.locator(".opblock-tag").first.click()
    watch.settle()
    watch.visit("/api/v1/redoc/")
    expect(page.locator("#redoc-container, redoc").first.locator("h1").first).to_contain_text(
        "WiFi License Manager"
    )
    watch.settle()
    # Redoc's sidebar shows Redocly's logo from their CDN and cannot be told not to: the
    # policy refuses it (no CDN) and the attribution shows without the image
    watch.assert_clean(refused_on=("/api/v1/redoc/", "https://cdn.redoc.ly/redoc/logo-mini.svg"))


def test_admin_login_page(watch_as):
    page, watch = watch_as(None)
    watch.visit("/admin/login/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    watch.assert_clean()


def test_users_page_and_its_dialog(watch_as):
    """/users/ (docs/pages.md, "Users"): the deactivation dialog comes through htmx and
    closes without script of ours inline; nothing the policy refuses."""
    page, watch = watch_as("costa")
    watch.visit("/users/")
    page.get_by_test_id("deactivate-user").first.click()
    expect(page.get_by_test_id("deactivate-dialog")).to_be_visible()
    page.get_by_test_id("dialog-close").click()
    expect(page.get_by_test_id("deactivate-dialog")).to_be_hidden()
    watch.assert_clean()
