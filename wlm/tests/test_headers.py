"""Response headers: a strict Content-Security-Policy on every page, and ``no-store`` on
every answer that is not a static file (keys, tokens, tenant rows, certificates).

The browser half of the CSP (no violation on any page, htmx swaps included) is in
``wlm/tests/browser/test_csp.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from wlm.conftest import PASSWORD
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import NotDjango, full, lean, path, token
from wlm.licenses import services
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
# what every page's policy must say, directive by directive
STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy(response) -> dict[str, set[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


@pytest.fixture
def license(world):
    """A license of the hotel, with a pending request of the shop beside it."""
    services.create_request(
        world.partner_admin,
        services.Terms(
            location=world.shop, distributor=world.dist, years=1, payment="annual", aps=3
        ),
    )
    return make_license(world, LicenseStatus.IN_USE, start=dt.date(2026, 6, 1))


def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def page_urls(world, license) -> list[tuple[str, str]]:
    """(user, url) of every page of the product, as the user who may open it."""
    request = world.dist.license_requests.get()
    tabs = ["general", "modules", "assignments", "upgrades", "notifications"]
    return [
        ("dist_admin", "/"),
        ("dist_admin", "/licenses/"),
        *(("dist_admin", f"/licenses/{license.pk}/?tab={tab}") for tab in tabs),
        ("dist_admin", f"/licenses/{license.pk}/renew/"),
        ("dist_admin", "/locations/?q=hotel"),
        ("org_admin", f"/locations/{world.shop.pk}/send-key/"),
        ("dist_admin", "/requests/?state=pending"),
        ("partner_admin", "/requests/new/"),
        ("dist_admin", f"/requests/{request.pk}/approve/"),
        ("dist_admin", f"/requests/{request.pk}/reject/"),
        ("org_admin", "/inbox/"),
        ("org_admin", "/accounts/password_change/"),
        (None, "/accounts/login/"),
        (None, "/accounts/password_reset/"),
        (None, "/accounts/password_reset/done/"),
        ("superuser", "/admin/"),
        ("superuser", "/admin/licenses/license/"),
        ("superuser", f"/admin/licenses/license/{license.pk}/change/"),
        (None, "/admin/login/"),
        ("org_admin", "/licenses/999999/"),  # the 404 page
    ]


def test_every_page_carries_a_strict_content_security_policy(world, license):
    people = {**vars(world.people), "superuser": superuser()}
    for username, url in page_urls(world, license):
        client = Client()
        if username is not None:
            client.force_login(people[username])
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert response["Content-Type"].startswith("text/html"), url
        directives = policy(response)
        for name, sources in STRICT.items():
            assert directives.get(name) == sources, (url, name, directives.get(name))
        assert not {"'unsafe-inline'", "'unsafe-eval'"} & set().union(*directives.values())


def test_api_answers_carry_the_policy_too(api, world, license):
    """JSON cannot run in a page, but a browser told to render it still gets no script."""
    response = api(world.dist_admin).get(f"/api/v1/licenses/{license.pk}/")
    assert response.status_code == 200
    assert policy(response)["script-src"] == {"'self'"}


def scripts_are_files(response) -> bool:
    scripts = re.findall(rb"<script([^>]*)>", response.content)
    return bool(scripts) and all(b"src=" in attributes for attributes in scripts)


def test_swagger_ui_runs_under_the_strict_policy(client):
    """Its start script is a file (drf-spectacular's split view), its page style too."""
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert policy(response) == STRICT
    assert scripts_are_files(response)
    assert b"<style" not in response.content
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


def test_redoc_and_the_browsable_api_allow_inline_styles(client, world):
    """Their code writes styles into the page; scripts stay as strict as everywhere."""
    client.force_login(world.dist_admin)
    relaxed = {**STRICT, "style-src": {"'self'", "'unsafe-inline'"}}
    browsable = client.get("/api/v1/licenses/", HTTP_ACCEPT="text/html")
    assert browsable["Content-Type"].startswith("text/html")
    assert policy(browsable) == relaxed
    # Redoc's search runs in a worker made from a blob
    assert policy(client.get("/api/v1/redoc/")) == {**relaxed, "worker-src": {"'self'", "blob:"}}
    assert b"fonts.googleapis.com" not in client.get("/api/v1/redoc/").content  # no CDN


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE)
STYLE = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name
)
def test_templates_have_no_inline_script_or_style(template):
    """What the policy would block, found before a browser does: inline scripts, event
    handler attributes (htmx's hx-on included: it needs eval) and inline styles."""
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text)
    assert not HANDLER.search(text)
    assert not STYLE.search(text)
    assert "javascript:" not in text


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(client):
    response = client.get("/accounts/login/")
    meta = re.search(rb'<meta name="htmx-config" content=\'([^\']*)\'>', response.content)
    assert meta is not None
    assert b'"includeIndicatorStyles":false' in meta.group(1)
    assert b'"allowEval":false' in meta.group(1)


# --- Cache-Control -----------------------------------------------------------------------


def assert_no_store(response) -> None:
    cache_control = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= cache_control, (
        response.request["PATH_INFO"],
        response.get("Cache-Control"),
    )


def test_license_api_answers_are_not_stored(api, world, license):
    client = api(world.dist_admin)
    for url in (
        f"/api/v1/licenses/{license.pk}/",
        f"/api/v1/licenses/{license.pk}/pdf/",
        "/api/v1/licenses/",
        "/api/v1/licenses/?format=csv",
        f"/api/v1/partners/{world.partner.pk}/",
        "/api/v1/partners/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_store(response)


def test_tenant_row_read_by_its_admin_is_not_stored(api, world):
    """Its webhook URL (credentials, often) and signing material are for its admins."""
    response = api(world.partner_admin).get(f"/api/v1/partners/{world.partner.pk}/")
    assert response.status_code == 200
    assert "webhook_url" in response.json()
    assert_no_store(response)


def test_token_answer_is_not_stored(client, world):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "org_admin", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert_no_store(response)


def test_pages_and_certificate_are_not_stored(client, world, license):
    client.force_login(world.dist_admin)
    for url in (
        "/",
        "/licenses/",
        f"/licenses/{license.pk}/",
        f"/licenses/{license.pk}/pdf/",
        "/requests/?state=pending",
        "/inbox/",
        "/accounts/login/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_store(response)
    # an htmx fragment too
    assert_no_store(
        client.get(
            f"/licenses/{license.pk}/?tab=modules",
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="tab-panel",
        )
    )


def test_static_files_keep_their_cache_headers(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    cache_control = response.get("Cache-Control", "")
    assert "max-age" in cache_control
    assert "no-store" not in cache_control


@time_machine.travel(NOW, tick=False)
def test_entitlement_lean_path_sends_the_headers_of_the_full_path(world):
    make_license(world, LicenseStatus.IN_USE, start=dt.date(2026, 6, 1))
    front = DataPlaneFront(NotDjango(), Entitlements())
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    _status, lean_headers, _body = lean(front, path(world.hotel), **auth)
    assert front.django.calls == 0
    _status, full_headers, _body = full(path(world.hotel), **auth)
    for headers in (lean_headers, full_headers):
        assert {"no-store", "private"} <= {
            part.strip() for part in headers["cache-control"].split(",")
        }
        assert "script-src 'self'" in headers["content-security-policy"]
    assert lean_headers["cache-control"] == full_headers["cache-control"]
    assert lean_headers["content-security-policy"] == full_headers["content-security-policy"]
