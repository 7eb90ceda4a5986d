"""RADIUS accounting through the intake (docs/radius.md): a Start is a device seen at its
access point's location; retransmissions count once; other packets change nothing; the
lean path buffers and writes in batches what Django's view writes at once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from wlm.connections import accounting
from wlm.connections.models import LocationDay, PendingDevice
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import Clock, NotDjango
from wlm.dataplane.tests.test_front import post_full as django_post
from wlm.dataplane.tests.test_front import post_lean as front_post
from wlm.lib import clock
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 23, 30, tzinfo=dt.UTC)  # already the 11th in Madrid
URL = "/api/v1/radius/accounting/"
LOBBY = "02-00-00-00-00-01:Hotel Guests"


def start(n: int, *, status="Start", station=LOBBY, session=None, at=None) -> dict:
    """Device n's Accounting-Request, as FreeRADIUS's rest module sends it."""
    stamp = at or NOW - dt.timedelta(minutes=10 - n)
    return {
        "status_type": status,
        "called_station_id": station,
        "calling_station_id": f"AA-BB-CC-00-00-{n:02X}",
        "nas_identifier": "lobby-ap",
        "acct_session_id": session or f"session-{n}",
        "event_timestamp": str(int(stamp.timestamp())),
    }


def post_lean(front, data, user) -> tuple[int, dict, bytes]:
    return front_post(front, URL, data, user)


def post_full(data, user) -> tuple[int, dict, bytes]:
    return django_post(URL, data, user)


@pytest.fixture
def buffer():
    return accounting.Buffer(writer=False)  # flushed by the test, not by time


@pytest.fixture
def front(buffer):
    return DataPlaneFront(NotDjango(), Entitlements(monotonic=Clock()), buffer)


def events_at_hotel(world) -> int:
    return sum(LocationDay.objects.filter(location=world.hotel).values_list("events", flat=True))


@time_machine.travel(NOW, tick=False)
def test_the_fifth_start_starts_the_license_on_the_local_date(world, front):
    license = make_license(world, S.PENDING_START)
    for n in range(1, 6):
        assert post_lean(front, start(n), world.gateway)[0] == 204
    assert front.django.calls == 0
    assert License.objects.get(pk=license.pk).status == S.PENDING_START  # buffered
    assert front.accounting.flush() == 5
    license.refresh_from_db()
    assert license.status == S.IN_USE
    # the fifth device was seen at 23:25 UTC: already the 11th at the hotel (Madrid)
    assert license.start_date == dt.date(2027, 3, 11)
    assert events_at_hotel(world) == 5
    assert not PendingDevice.objects.filter(device__icontains="AA:BB").exists()  # hashed


@time_machine.travel(NOW, tick=False)
def test_a_retransmitted_start_counts_once(world, front):
    make_license(world, S.PENDING_START)
    for _ in range(3):  # twice in one batch, once in the next
        post_lean(front, start(1), world.gateway)
        if _ == 1:
            front.accounting.flush()
    front.accounting.flush()
    assert events_at_hotel(world) == 1
    assert post_full(start(1), world.gateway)[0] == 204  # through Django too
    assert events_at_hotel(world) == 1
    post_lean(front, start(1, session="another-session"), world.gateway)
    front.accounting.flush()
    assert events_at_hotel(world) == 2  # a new session of the same device is a new event
    assert PendingDevice.objects.count() == 1  # one distinct device


@pytest.mark.parametrize(
    "packet",
    [
        start(1, status="Interim-Update"),
        start(1, status="Stop"),
        start(1, station="02-00-00-00-00-99:Guests"),  # an access point nobody registered
        start(1, station=""),
        {**start(1), "calling_station_id": ""},
    ],
)
@time_machine.travel(NOW, tick=False)
def test_what_is_not_a_registered_start_is_acknowledged_and_changes_nothing(world, front, packet):
    make_license(world, S.PENDING_START)
    lean_answer = post_lean(front, packet, world.gateway)
    assert lean_answer == post_full(packet, world.gateway)
    assert lean_answer[0] == 204
    assert len(front.accounting) == 0
    assert events_at_hotel(world) == 0


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_and_close_leaves_nothing_behind(world):
    """A server process's buffer has its own thread and connection: what it holds is
    written, and ``close`` (at exit) writes the rest and ends the thread."""
    buffer = accounting.Buffer(flush_every=3600, max_batch=2)  # woken by the batch size
    for n in (1, 2, 3):
        packet = accounting.Packet(
            f"radius:test-{n}", str(world.hotel.pk), f"AA:BB:CC:00:00:0{n}", clock.now()
        )
        buffer.add(world.gateway.pk, packet)
    buffer.close()
    assert not buffer._thread.is_alive() and len(buffer) == 0
    assert events_at_hotel(world) == 3


@time_machine.travel(NOW, tick=False)
def test_the_lean_path_and_django_answer_alike_and_count_alike(world, front):
    lean_answer = post_lean(front, start(1), world.gateway)
    front.accounting.flush()
    full_answer = post_full(start(2), world.gateway)
    assert lean_answer == full_answer
    assert lean_answer[0] == 204 and lean_answer[2] == b""
    assert events_at_hotel(world) == 2


@pytest.mark.parametrize("user", ["staff", "org_admin"])
def test_only_the_gateway_reports(world, front, user):
    assert post_full(start(1), getattr(world, user))[0] == 403
    post_lean(front, start(1), getattr(world, user))
    assert front.django.calls == 1 and len(front.accounting) == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**start(1), "event_timestamp": "yesterday"}, "event_timestamp"),
        ({**start(1), "acct_session_id": 7}, "acct_session_id"),
        ([start(1)], "body"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(world, front, data, field):
    status, _headers, content = post_full(data, world.gateway)
    assert status == 400 and field in json.loads(content)["errors"]
    post_lean(front, data, world.gateway)
    assert front.django.calls == 1 and len(front.accounting) == 0
