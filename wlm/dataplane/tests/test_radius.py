"""FreeRADIUS's question, answered by our service (docs/radius.md): which access point,
which location, the entitlement's rule; the lean path gives Django's answer, kept fresh by
the change log. (FreeRADIUS itself in front: test_freeradius.py.)"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from wlm.dataplane import radius
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import Clock, NotDjango, post_full, post_lean
from wlm.licenses import lifecycle
from wlm.licenses.models import License, LicenseStatus, Module
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
URL = "/api/v1/radius/authorize/"
LOBBY = "02-00-00-00-00-01:Hotel Guests"  # the world's hotel access point, as APs send it


@pytest.mark.parametrize(
    "station",
    [
        "02-00-00-00-00-01:Hotel Guests",
        "02-00-00-00-00-01",
        "02:00:00:00:00:01",
        "02:00:00:00:00:01:Guests",
        "020000000001",
        "020000000001:Guests",
        "0200.0000.0001",
        "0200.0000.0001:Guests",
        " 02-00-00-00-00-01:with:colons:in the SSID ",
    ],
)
def test_every_usual_spelling_of_the_station_names_the_mac(station):
    assert radius.station_mac(station) == "02:00:00:00:00:01"


@pytest.mark.parametrize(
    "station", ["", "Guests", "02-00-00-00-00", "02-00:00-00-00-01", "0g-00-00-00-00-01", "02"]
)
def test_no_mac_no_access_point(station):
    assert radius.station_mac(station) is None


@pytest.mark.parametrize(
    ("station", "nas", "mac"),
    [
        ("02-00-00-00-00-01:Guests", "02-00-00-00-00-09", "02:00:00:00:00:01"),  # station first
        ("", "02-00-00-00-00-09", "02:00:00:00:00:09"),
        ("Guests", "0200.0000.0009", "02:00:00:00:00:09"),
        ("", "lobby-ap", None),  # a name, not a MAC
        ("", "02-00-00-00-00-09:Guests", None),  # only a bare MAC there
    ],
)
def test_the_nas_identifier_names_the_access_point_only_without_a_station(station, nas, mac):
    assert radius.access_point_mac(station, nas) == mac


def body(station=LOBBY, device="AA-BB-CC-00-00-01", nas="lobby-ap") -> dict:
    return {"called_station_id": station, "calling_station_id": device, "nas_identifier": nas}


def full(data, user) -> tuple[int, dict, bytes]:
    return post_full(URL, data, user)


def lean(front, data, user) -> tuple[int, dict, bytes]:
    return post_lean(front, URL, data, user)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def front(clock):
    return DataPlaneFront(NotDjango(), Entitlements(monotonic=clock))


def ask(front, world, data=None) -> tuple[int, dict]:
    """The lean path's answer, checked against Django's for the same request."""
    data = body() if data is None else data
    lean_answer = lean(front, data, world.gateway)
    assert front.django.calls == 0, "the lean path handed the request to Django"
    assert lean_answer == full(data, world.gateway)
    return lean_answer[0], json.loads(lean_answer[2])


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (S.PENDING_PROVISION, "pending_provision"),
        (S.ACCESS_DENIED, "access_denied"),
        (S.CONTRACT_FINALIZED, "contract_finalized"),
    ],
)
@time_machine.travel(NOW, tick=False)
def test_no_service_is_a_reject_with_the_reason(world, front, status, reason):
    make_license(world, status, before_denial=S.IN_USE if status == S.ACCESS_DENIED else "")
    assert ask(front, world) == (
        401,
        {"control:Auth-Type": "Reject", "reply:Reply-Message": reason},
    )


@time_machine.travel(NOW, tick=False)
def test_unknown_access_point_and_no_license(world, front):
    unknown = {"control:Auth-Type": "Reject", "reply:Reply-Message": "unknown_access_point"}
    assert ask(front, world, body(station="02-00-00-00-00-99:Guests")) == (401, unknown)
    assert ask(front, world, body(station="not a mac")) == (401, unknown)
    assert ask(front, world, body(station="")) == (401, unknown)
    no_license = {"control:Auth-Type": "Reject", "reply:Reply-Message": "no_license"}
    assert ask(front, world) == (401, no_license)  # the hotel: an AP, no license yet


@time_machine.travel(NOW, tick=False)
def test_in_use_is_an_accept_until_the_cut_off_with_the_modules(world, front, settings):
    license = make_license(world, S.IN_USE, start=dt.date(2025, 3, 11), years=2)
    license.modules.set(Module.objects.filter(code__in=["guest", "pms"]))
    # the end date is 2027-03-11: its local midnight in the hotel's zone is the cut-off
    cut_off = radius.cut_off(license.end_date, license.timezone)
    status, reply = ask(front, world)
    assert status == 200
    assert reply["control:Auth-Type"] == "Accept"
    assert reply["reply:Session-Timeout"] == int((cut_off - NOW).total_seconds()) < 86400
    assert reply["reply:Class"] == "modules=guest,pms"
    settings.RADIUS_SESSION_TIMEOUT = 600
    front.entitlements.clear()
    assert ask(front, world)[1]["reply:Session-Timeout"] == 600  # the configured maximum
    with time_machine.travel(cut_off - dt.timedelta(seconds=1), tick=False):
        assert ask(front, world)[1]["reply:Session-Timeout"] == 1
    with time_machine.travel(cut_off, tick=False):
        expired = {"control:Auth-Type": "Reject", "reply:Reply-Message": "expired"}
        assert ask(front, world) == (401, expired)


@time_machine.travel(NOW, tick=False)
def test_a_pending_start_license_serves_for_the_longest_session(world, front, settings):
    make_license(world, S.PENDING_START)
    status, reply = ask(front, world)
    assert (status, reply["reply:Session-Timeout"]) == (200, settings.RADIUS_SESSION_TIMEOUT)


@time_machine.travel(NOW, tick=False)
def test_a_deny_and_a_new_access_point_reach_the_cached_answers(world, front, clock):
    license = make_license(world, S.IN_USE)
    assert ask(front, world)[0] == 200
    new = body(station="02-00-00-00-00-77:Guests")
    assert ask(front, world, new)[1]["reply:Reply-Message"] == "unknown_access_point"
    AccessPoint.objects.create(location=world.hotel, mac="02:00:00:00:00:77", name="Bar")
    lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    clock.now += front.entitlements.refresh_every
    assert ask(front, world)[1]["reply:Reply-Message"] == "access_denied"
    assert ask(front, world, new)[1]["reply:Reply-Message"] == "access_denied"


@pytest.mark.parametrize("user", ["staff", "dist_admin", "org_admin"])
def test_only_the_gateway_asks(world, front, user):
    status, _headers, _body = full(body(), getattr(world, user))
    assert status == 403
    lean(front, body(), getattr(world, user))
    assert front.django.calls == 1  # handed to Django, which refuses
    assert Client().post(URL, body(), content_type="application/json").status_code == 401


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "body"),
        ({"called_station_id": 5}, "called_station_id"),
        ({"calling_station_id": "x" * 254}, "calling_station_id"),
        ({"nas_identifier": None}, "nas_identifier"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(world, front, data, field):
    status, _headers, content = full(data, world.gateway)
    assert status == 400
    assert field in json.loads(content)["errors"] or field in content.decode()
    lean(front, data, world.gateway)
    assert front.django.calls == 1
    assert License.objects.count() == 0
