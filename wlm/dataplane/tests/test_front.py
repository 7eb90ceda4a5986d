"""The lean path gives the full path's answers, and changes reach every process's cache.

Each test compares the WSGI front (``wlm.wsgi.application``'s class) with Django's own
answer for the same request. "A process" is one ``Entitlements``: two of them are two
server processes sharing the database.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from django.db import connection
from django.test import Client, RequestFactory

from wlm.conftest import token_for
from wlm.dataplane import triggers
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.models import Change
from wlm.licenses import current, lifecycle
from wlm.licenses.models import License, LicenseStatus, Module
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint, Room
from wlm.tenancy import tokens

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
IGNORED_HEADERS = {"date", "server"}


class Clock:
    """A monotonic clock the test moves (the cache's refresh interval)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def path(location) -> str:
    return f"/api/v1/locations/{location.pk}/entitlement/"


def token(user) -> str:
    """The user's API token in this test (one per user object, like DRF's former one)."""
    key = getattr(user, "_test_token", None)
    if key is None:
        key = user._test_token = token_for(user)
    return key


class NotDjango:
    """Stands for Django behind the front: records that the request reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"django"]


def served(front, environ) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of the WSGI front for ``environ``."""
    answer = {}

    def start_response(status, response_headers):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    body = b"".join(front(environ, start_response))
    return answer["status"], answer["headers"], body


def lean(front, url: str, **headers) -> tuple[int, dict, bytes]:
    return served(front, RequestFactory().get(url, **headers).environ)


def full(url: str, **headers) -> tuple[int, dict, bytes]:
    response = Client().get(url, **headers)
    names = {name.lower(): value for name, value in response.headers.items()}
    return response.status_code, names, response.content


def post_lean(front, url: str, data, user) -> tuple[int, dict, bytes]:
    """``data`` POSTed as JSON with ``user``'s token, to the front (FreeRADIUS's calls)."""
    authorization = f"Token {token(user)}"
    request = RequestFactory().post(
        url, json.dumps(data), content_type="application/json", HTTP_AUTHORIZATION=authorization
    )
    return served(front, request.environ)


def post_full(url: str, data, user) -> tuple[int, dict, bytes]:
    """The same POST through Django alone; the headers a server adds left out."""
    client = Client(HTTP_AUTHORIZATION=f"Token {token(user)}")
    response = client.post(url, json.dumps(data), content_type="application/json")
    names = {name.lower(): value for name, value in response.headers.items()}
    for name in IGNORED_HEADERS:
        names.pop(name, None)
    return response.status_code, names, response.content


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def front(clock):
    """The front with a Django that must not be reached (the lean path answered)."""
    return DataPlaneFront(NotDjango(), Entitlements(monotonic=clock))


def assert_same_answer(front, url, **headers):
    lean_status, lean_headers, lean_body = lean(front, url, **headers)
    assert front.django.calls == 0, "the lean path handed the request to Django"
    full_status, full_headers, full_body = full(url, **headers)
    assert (lean_status, lean_body) == (full_status, full_body)
    for name in IGNORED_HEADERS:
        full_headers.pop(name, None)
    assert lean_headers == full_headers
    return json.loads(lean_body)


# --- the same answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (S.PENDING_PROVISION, "pending_provision"),
        (S.PENDING_START, "ok"),
        (S.IN_USE, "ok"),
        (S.ACCESS_DENIED, "access_denied"),
        (S.CONTRACT_FINALIZED, "contract_finalized"),
    ],
)
@pytest.mark.parametrize("caller", ["gateway", "staff", "staff_viewer"])
@time_machine.travel(NOW, tick=False)
def test_lean_path_answers_as_django_for_every_status(world, front, status, reason, caller):
    license = make_license(
        world,
        status,
        start=dt.date(2026, 6, 1),
        before_denial=S.IN_USE if status == S.ACCESS_DENIED else "",
    )
    license.modules.set(Module.objects.filter(code__in=["guest", "pms"]))
    auth = {"HTTP_AUTHORIZATION": f"Token {token(getattr(world, caller))}"}
    body = assert_same_answer(front, path(world.hotel), **auth)
    assert body["reason"] == reason


@time_machine.travel(NOW, tick=False)
def test_lean_path_answers_as_django_without_a_license(world, front):
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    assert assert_same_answer(front, path(world.shop), **auth)["reason"] == "no_license"


def test_lean_path_is_expired_at_the_second_the_end_date_starts(world, front):
    """The cut-off is computed at call time: the cache holds the dates, not the answer."""
    make_license(world, S.IN_USE, start=dt.date(2025, 3, 10), years=2)  # ends 2027-03-10
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    # Europe/Madrid: the end date starts at 2027-03-09T23:00Z
    with time_machine.travel(dt.datetime(2027, 3, 9, 22, 59, 59, tzinfo=dt.UTC), tick=False):
        assert assert_same_answer(front, path(world.hotel), **auth)["reason"] == "ok"
    with time_machine.travel(dt.datetime(2027, 3, 9, 23, 0, 0, tzinfo=dt.UTC), tick=False):
        body = assert_same_answer(front, path(world.hotel), **auth)
    assert (body["service"], body["reason"]) == ("unavailable", "expired")


@time_machine.travel(NOW, tick=False)
def test_lean_path_behind_tls_proxy_sends_hsts_as_django(world, clock, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    front = DataPlaneFront(NotDjango(), Entitlements(monotonic=clock))  # reads the settings
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    assert_same_answer(front, path(world.hotel), HTTP_X_FORWARDED_PROTO="https", **auth)


# --- what goes to Django ----------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "organization admin",
        "distributor viewer",
        "no token",
        "unknown token",
        "session cookie",
        "query string",
        "html wanted",
        "language asked",
        "other host",
        "unknown location",
        "not a uuid",
        "post",
    ],
)
def test_everything_else_goes_to_django(world, front, case):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    url = path(world.hotel)
    headers = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    method = "get"
    if case == "organization admin":
        headers["HTTP_AUTHORIZATION"] = f"Token {token(world.org_admin)}"
    elif case == "distributor viewer":
        headers["HTTP_AUTHORIZATION"] = f"Token {token(world.dist_viewer)}"
    elif case == "no token":
        del headers["HTTP_AUTHORIZATION"]
    elif case == "unknown token":
        headers["HTTP_AUTHORIZATION"] = "Token " + "0" * 40
    elif case == "session cookie":
        headers["HTTP_COOKIE"] = "sessionid=abc"
    elif case == "query string":
        url += "?format=json"
    elif case == "html wanted":
        headers["HTTP_ACCEPT"] = "text/html"
    elif case == "language asked":
        headers["HTTP_ACCEPT_LANGUAGE"] = "es"
    elif case == "other host":
        headers["HTTP_HOST"] = "evil.example.com"
    elif case == "unknown location":
        url = "/api/v1/locations/00000000-0000-4000-8000-000000000000/entitlement/"
    elif case == "not a uuid":
        url = "/api/v1/locations/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/entitlement/"
    elif case == "post":
        method = "post"
    environ = getattr(RequestFactory(), method)(url, **headers).environ
    answers = []
    body = b"".join(front(environ, lambda status, headers: answers.append(status)))
    assert (answers, body, front.django.calls) == (["418 I'm a teapot"], b"django", 1)


def test_a_revoked_token_is_refused_within_a_second(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    key = token(world.gateway)
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert lean(front, path(world.hotel), **auth)[0] == 200
    tokens.revoke_all(world.gateway)
    clock.now += 1
    lean(front, path(world.hotel), **auth)
    assert front.django.calls == 1


def test_a_token_of_a_deactivated_user_goes_to_django_within_a_second(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    assert lean(front, path(world.hotel), **auth)[0] == 200
    type(world.gateway).objects.filter(pk=world.gateway.pk).update(is_active=False)
    clock.now += 1
    lean(front, path(world.hotel), **auth)
    assert front.django.calls == 1


# --- changes reach every process --------------------------------------------------------


def reason(front, location, auth) -> str:
    status, _headers, body = lean(front, path(location), **auth)
    assert status == 200
    return json.loads(body)["reason"]


CHANGES = {
    "deny": (S.IN_USE, lambda w, lic: lifecycle.deny(w.dist_admin, lic.pk, "unpaid"), "reason"),
    "restore": (
        S.ACCESS_DENIED,
        lambda w, lic: lifecycle.restore(w.dist_admin, lic.pk, "paid"),
        "reason",
    ),
    "renew": (  # a finalized license renewed after its end is in use again
        S.CONTRACT_FINALIZED,
        lambda w, lic: lifecycle.renew(w.dist_admin, lic.pk, 1),
        "reason",
    ),
    "upgrade": (
        S.IN_USE,
        lambda w, lic: lifecycle.upgrade(w.dist_admin, lic.pk, limit=20, reason="bigger"),
        "rooms",
    ),
    "modules": (
        S.IN_USE,
        lambda w, lic: lic.modules.add(Module.objects.get(code="pms")),
        "modules",
    ),
    "room": (S.IN_USE, lambda w, lic: Room.objects.create(location=w.hotel, number="102"), "rooms"),
    "bulk update": (
        S.IN_USE,
        lambda w, lic: License.objects.filter(pk=lic.pk).update(status=S.ACCESS_DENIED),
        "reason",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
@time_machine.travel(NOW, tick=False)
def test_a_change_reaches_every_process_at_its_next_refresh(world, clock, change):
    status, act, field = CHANGES[change]
    license = make_license(
        world,
        status,
        start=dt.date(2024, 6, 1) if status == S.CONTRACT_FINALIZED else dt.date(2026, 6, 1),
        before_denial=S.IN_USE if status == S.ACCESS_DENIED else "",
    )
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    processes = [DataPlaneFront(NotDjango(), Entitlements(monotonic=clock)) for _ in range(2)]
    before = [json.loads(lean(p, path(world.hotel), **auth)[2])[field] for p in processes]
    act(world, license)
    expected = json.loads(full(path(world.hotel), **auth)[2])[field]
    assert expected != before[0]
    clock.now += 0.25  # the refresh interval: within a second, every process
    after = [json.loads(lean(p, path(world.hotel), **auth)[2])[field] for p in processes]
    assert after == [expected, expected]
    current.refresh_all()  # the bulk update: its stored copies, past the services


@time_machine.travel(NOW, tick=False)
def test_an_access_point_at_another_location_of_the_license_changes_the_count(world, clock):
    """ "used" counts over every location of the license: a change at one location
    reaches the cached answer of another."""
    license = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    license.license_type = "aps"
    license.save()
    lifecycle.assign(world.org_admin, license.pk, world.shop)
    auth = {"HTTP_AUTHORIZATION": f"Token {token(world.gateway)}"}
    front = DataPlaneFront(NotDjango(), Entitlements(monotonic=clock))
    assert json.loads(lean(front, path(world.hotel), **auth)[2])["aps"]["used"] == 1
    AccessPoint.objects.create(location=world.shop, mac="02:00:00:00:00:09", name="Till")
    clock.now += 0.25
    assert json.loads(lean(front, path(world.hotel), **auth)[2])["aps"]["used"] == 2


def test_a_process_that_slept_past_the_log_forgets_everything(world, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    entitlements = Entitlements(monotonic=clock)
    entitlements.facts(world.hotel.pk)
    assert len(entitlements) == 1
    clock.now += entitlements.stale_after + 1
    Change.objects.all().delete()  # the log was cleaned while the process slept
    entitlements.facts(world.shop.pk)
    assert len(entitlements) == 1  # the hotel was forgotten, the shop read


# --- the triggers -----------------------------------------------------------------------


def test_every_trigger_is_installed_after_migrate():
    assert triggers.installed(connection) == triggers.expected()


def test_a_bulk_update_logs_every_row(world):
    first = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    second = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    Change.objects.all().delete()
    License.objects.filter(pk__in=[first.pk, second.pk]).update(status=S.ACCESS_DENIED)
    assert {c.license_id for c in Change.objects.all()} == {first.pk, second.pk}
    assert all(c.location_id == world.hotel.pk for c in Change.objects.all())
    current.refresh_all()  # its stored copies, past the services


def test_generate_load_writes_no_change_rows_and_leaves_the_triggers():
    from wlm.demo import load

    load.generate(20)
    assert not Change.objects.exists()
    assert triggers.installed(connection) == triggers.expected()


def test_the_notifier_prunes_change_rows_older_than_an_hour(world):
    from django.core.management import call_command

    Change.objects.all().delete()
    Change.objects.create(location_id=world.shop.pk, at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    Room.objects.create(location=world.hotel, number="new")  # a row of the database's now
    call_command("notifier", "--once", stdout=io.StringIO())
    assert [c.location_id for c in Change.objects.all()] == [world.hotel.pk]
