"""Every URL refuses an anonymous caller, except the few that are public on purpose.

Public by decision (docs/api.md, docs/pages.md): the token endpoint and the login
pages (they are how one logs in), the password reset pages (a reset link is the proof),
the OpenAPI schema and its docs (they describe the API, not its data), and the admin's
login page. The pages send an anonymous visitor to the login page.
"""

import re
import uuid

import pytest
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from wlm.conftest import make_user
from wlm.tenancy.models import TenantType

pytestmark = [
    pytest.mark.django_db,
    # the admin's add and change forms, opened by the signed-in probe, warn about the
    # default scheme of their URL fields (Django 6.0): nothing about access
    pytest.mark.filterwarnings("ignore:The default scheme will be changed:DeprecationWarning"),
]

PUBLIC = {
    ".well-known/jwks.json",
    "verify/",
    "language/",
    "api/v1/auth/token/",
    "api/v1/schema/",
    "api/v1/docs/",
    "api/v1/redoc/",
    "accounts/login/",
    "accounts/password_reset/",
    "accounts/password_reset/done/",
    "accounts/reset/x/x/",
    "accounts/reset/done/",
    "invitation/x/x/",
    "admin/login/",
    "admin/logout/",
}
SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "path": "x", "slug": "x"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _concrete(route: str) -> str:
    """A URL that matches ``route``: converters and regex groups get sample values."""
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<\w+>\[0-9a-fA-F-\]\{36\}\)", SAMPLES["uuid"], route)
    route = re.sub(r"\(\?P<code>[^)]*\)", "guest", route)
    route = re.sub(r"\(\?P<\w+>(\w+)\|[^)]*\)", r"\1", route)  # a choice: its first
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)
    return "/" + route


def _views() -> dict[str, object]:
    """Each route and its view (the first one, where a route is declared twice)."""
    views: dict[str, object] = {}
    for route, view in _walk(get_resolver().url_patterns):
        views.setdefault(route, view)
    return views


def routes():
    return sorted(_views())


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


def test_walk_finds_the_saved_views_of_each_list():
    """The saved views' pages (wlm/lib/saved_views.py) are walked like every page."""
    guarded = set(guarded_routes())
    for list_path in ("licenses", "locations", "requests"):
        assert f"{list_path}/views/" in guarded
        assert f"{list_path}/views/<int:pk>/delete/" in guarded


def test_public_routes_are_exactly_the_decided_ones(client):
    public = {_concrete(route).lstrip("/") for route in routes()} & PUBLIC
    assert public == PUBLIC
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/").status_code == 302


METHODS = ("get", "post", "put", "patch", "delete")


def served_methods(client, url: str) -> set[str]:
    """The methods the view at ``url`` serves: those it does not answer 405 to a
    signed-in superuser of the platform operator (signed in again for each method, as
    a POST may be the logout)."""
    root = make_user("root", TenantType.STAFF)
    root.is_staff = root.is_superuser = True
    root.save(update_fields=["is_staff", "is_superuser"])
    served = set()
    for method in METHODS:
        client.force_login(root)
        if getattr(client, method)(url).status_code != 405:
            served.add(method)
    client.logout()
    return served


def _refusal(url: str, response) -> str | None:
    """Why ``response`` is not the refusal of an anonymous caller (None when it is)."""
    if url.startswith("/api/"):
        if response.status_code != 401:
            return f"status {response.status_code}, not 401"
        if response["Content-Type"] != "application/problem+json":
            return f"a 401 as {response['Content-Type']}, not problem+json"
    else:  # the pages and the admin send an anonymous visitor to the login page
        if response.status_code != 302:
            return f"status {response.status_code}, not 302"
        if "/login/" not in response["Location"]:
            return f"sent to {response['Location']}, not to a login page"
    return None


@pytest.mark.parametrize("route", guarded_routes())
def test_anonymous_is_refused(client, route):
    """Every method the route serves refuses an anonymous caller; a 405 passes only for a
    method it does not serve (the sample URL must reach the route's own view)."""
    url = _concrete(route)
    try:
        reached = resolve(url).func
    except Resolver404:
        reached = None
    assert reached is _views()[route], f"{url} does not reach the view of {route}"
    served = served_methods(client, url)
    assert served, f"{url} serves no method: nothing to refuse"
    for method in METHODS:
        response = getattr(client, method)(url)
        if method not in served and response.status_code == 405:
            continue
        why = _refusal(url, response)
        assert why is None, f"anonymous {method.upper()} {url}: {why}"
