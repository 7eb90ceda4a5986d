"""Accessibility of every page, checked by axe-core (static/vendor/axe/, the npm package
vendored: no CDN) in a real browser: each page as staff, a distributor, a partner and an
organization where they may see it, anonymous for the sign-in and verify pages, on a
desktop (1366x900) and a phone (390x844). A violation of impact serious or critical fails
the test, each one printed with its rule, the page and the elements (docs/pages.md,
"Layout and accessibility").

axe is injected by Playwright's ``evaluate`` (the DevTools protocol, which the page's
Content-Security-Policy does not govern): the pages are checked under their strict policy,
and nothing of axe is served to them.
"""

from __future__ import annotations

from functools import cache

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from wlm.licenses import bulk
from wlm.licenses.forms.requests import LOCATION_SELECT_MAX
from wlm.licenses.models import License
from wlm.licenses.views.licenses import TABS
from wlm.locations.models import Location
from wlm.tenancy.models import Organization
from wlm.tests.browser.conftest import DESKTOP, PHONE, ROOT

pytestmark = pytest.mark.browser

FAILING = ("serious", "critical")
# where a violation lies, said by the template that draws it (a selector of its box)
ELSEWHERE = {
    "#tab-panel": "templates/licenses/includes/tab_content.html",
    "#dialog": "templates/licenses/includes/action_dialog.html",
    "[data-testid=ending-chart]": "templates/dashboard.html (the chart)",
}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@cache
def axe_source() -> str:
    """The vendored axe-core: one file, its version in its name (static/vendor/README.md)."""
    found = sorted((ROOT / "static" / "vendor" / "axe").glob("axe-core-*.min.js"))
    assert len(found) == 1, f"expected one static/vendor/axe/axe-core-*.min.js, found {found}"
    return found[0].read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict]:
    """Run axe on the page as it is now: its serious and critical violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """async (owners) => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => ({
              target: n.target.join(" "), html: n.html.slice(0, 160),
              summary: n.failureSummary,
              inside: owners.filter((selector) => {
                const element = document.querySelector(n.target[0]);
                return element && element.closest(selector);
              }),
            })),
          }));
        }""",
        list(ELSEWHERE),
    )
    return [violation for violation in result if violation["impact"] in FAILING]


def describe(path: str, violations: list[dict]) -> list[str]:
    lines = []
    for violation in violations:
        for node in violation["nodes"]:
            owner = "".join(f" [in {ELSEWHERE[name]}]" for name in node["inside"])
            lines.append(
                f"{path}: {violation['impact']} {violation['id']} ({violation['help']}){owner}\n"
                f"    {node['target']}: {node['html']}\n"
                f"    {(node['summary'] or '').replace(chr(10), ' ')}"
            )
    return lines


def check_pages(page: Page, paths: list[str]) -> None:
    problems: list[str] = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        page.wait_for_load_state("load")
        problems += describe(path, axe_violations(page))
    assert problems == [], f"{len(problems)} accessibility violations:\n" + "\n".join(problems)


def license_for(username: str) -> License:
    """A license the user sees, with a history (the demo's Benidorm hotel) when it can."""
    visible = License.objects.visible_to(get_user_model().objects.get(username=username))
    return (
        visible.filter(location__name="Mar Azul Benidorm").first()
        or visible.exclude(organization=None).order_by("pk").first()
        or visible.order_by("pk").first()
    )


def pages_of(username: str) -> list[str]:
    license = license_for(username)
    paths = ["/", "/licenses/", "/locations/", "/requests/", "/inbox/", "/profile/", "/tokens/"]
    paths.append("/settings/")  # the tenant's settings (staff: the tenant chooser)
    if username == "staff":
        hotel = Organization.objects.get(name="Hotel Mar Azul")
        paths.append(f"/settings/organization/{hotel.pk}/")
    paths.append("/users/")  # every user walked here is an admin of their tenant
    paths += [f"/licenses/{license.pk}/?tab={name}" for name, _label in TABS]
    if username in ("staff", "costa"):  # partner admins and staff ask for licenses
        paths.append("/requests/new/")
    if username in ("staff", "marazul"):  # organization admins and staff send keys
        user = get_user_model().objects.get(username=username)
        location = Location.objects.visible_to(user).order_by("name").first()
        paths.append(f"/locations/{location.pk}/send-key/")
    if username in ("staff", "costa", "marazul"):  # a location's admins, its partner, staff
        user = get_user_model().objects.get(username=username)
        location = Location.objects.visible_to(user).order_by("name").first()
        paths.append(f"/locations/{location.pk}/installation/")
    if username in ("staff", "costa"):  # a partner's installer devices
        paths.append("/installer-devices/")
    # a user's bulk jobs (a job of theirs where their role may make one) and the list
    # filtered as the dashboard's "near their limit" link filters it
    paths += ["/licenses/bulk/jobs/", "/licenses/?near_limit=true"]
    if username in ("staff", "iberia"):
        user = get_user_model().objects.get(username=username)
        job = bulk.create_job(user, "renew", [license.pk], years=1)
        bulk.work()
        paths.append(f"/licenses/bulk/{job.pk}/")
    paths.append("/verify/")
    return paths


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("username", ["staff", "iberia", "costa", "marazul"])
def test_signed_in_pages_have_no_serious_violation(open_as, username, viewport):
    page = open_as(username, viewport=VIEWPORTS[viewport])
    check_pages(page, pages_of(username))


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_public_pages_have_no_serious_violation(open_as, viewport):
    page = open_as(None, viewport=VIEWPORTS[viewport])
    check_pages(page, ["/accounts/login/", "/accounts/password_reset/", "/verify/"])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_action_dialog_and_its_page_have_no_serious_violation(open_as, viewport):
    """An action of the license view, as the dialog htmx opens and as the page it is
    without script."""
    license = license_for("staff")
    page = open_as("staff", viewport=VIEWPORTS[viewport])
    page.goto(f"/licenses/{license.pk}/")
    action = page.get_by_test_id("license-actions").locator("a").first
    href = action.get_attribute("href")
    action.click()
    expect(page.get_by_test_id("action-dialog")).to_be_visible()
    problems = describe(f"{href} (dialog)", axe_violations(page))
    assert problems == [], f"{len(problems)} accessibility violations:\n" + "\n".join(problems)
    check_pages(page, [href])


def crowd(organization_name: str = "Mercado Central") -> None:
    """More locations than the request form's select holds (``LOCATION_SELECT_MAX``), in
    one organization of the demo's partner Costa: its location field becomes a search."""
    organization = Organization.objects.get(name=organization_name)
    Location.objects.bulk_create(
        Location(
            organization=organization,
            name=f"Puesto {n:03d}",
            sector="retail",
            timezone="Europe/Madrid",
            country="ES",
        )
        for n in range(LOCATION_SELECT_MAX + 1)
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_request_forms_location_search_has_no_serious_violation(open_as, viewport):
    """The request form of a partner with more locations than a select holds: the search
    as the page opens, after typing (htmx filled the select), and without script."""
    crowd()
    page = open_as("costa", viewport=VIEWPORTS[viewport])
    page.goto("/requests/new/")
    search = page.get_by_label("Find a location")
    search.fill("puesto 19")  # 019, 119, 190 … 199
    expect(page.get_by_test_id("location-search-status")).to_have_text("12 locations found.")
    problems = describe("/requests/new/ (searched)", axe_violations(page))
    assert problems == [], f"{len(problems)} accessibility violations:\n" + "\n".join(problems)
    check_pages(page, ["/requests/new/?location_q=puesto"])
