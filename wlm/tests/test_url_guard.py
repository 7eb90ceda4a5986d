"""Every URL refuses an anonymous caller, except the few that are public on purpose.

Public by decision (docs/api.md, docs/pages.md): the token endpoint and the login
pages (they are how one logs in), the password reset pages (a reset link is the proof),
the OpenAPI schema and its docs (they describe the API, not its data), and the admin's
login page. The pages send an anonymous visitor to the login page.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

PUBLIC = {
    "api/v1/auth/token/",
    "api/v1/schema/",
    "api/v1/docs/",
    "api/v1/redoc/",
    "accounts/login/",
    "accounts/password_reset/",
    "accounts/password_reset/done/",
    "accounts/reset/x/x/",
    "accounts/reset/done/",
    "admin/login/",
    "admin/logout/",
}
SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "path": "x", "slug": "x"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _concrete(route: str) -> str:
    """A URL that matches ``route``: converters and regex groups get sample values."""
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<\w+>\[0-9a-fA-F-\]\{36\}\)", SAMPLES["uuid"], route)
    route = re.sub(r"\(\?P<code>[^)]*\)", "guest", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)
    return "/" + route


def routes():
    return sorted(set(_walk(get_resolver().url_patterns)))


def guarded_routes():
    return [route for route in routes() if _concrete(route).lstrip("/") not in PUBLIC]


def test_walk_finds_the_api():
    all_routes = "\n".join(routes())
    for name in [
        "distributors",
        "partners",
        "organizations",
        "users",
        "modules",
        "locations",
        "access-points",
        "rooms",
        "notifications",
        "inbox",
    ]:
        assert name in all_routes


def test_public_routes_are_exactly_the_decided_ones(client):
    public = {_concrete(route).lstrip("/") for route in routes()} & PUBLIC
    assert public == PUBLIC
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("route", guarded_routes())
def test_anonymous_is_refused(client, route):
    url = _concrete(route)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url)
        if url.startswith("/api/"):
            assert response.status_code in (401, 405), (method, url, response.status_code)
            if response.status_code == 401:
                assert response["Content-Type"] == "application/problem+json"
        else:  # the pages and the admin send an anonymous visitor to the login page
            assert response.status_code in (302, 405), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/login/" in response["Location"]
