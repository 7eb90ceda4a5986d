"""The database away, in process (docs/dataplane.md, "When the database is away").

The data plane answers what each process knows — facts, access points, tokens — for the
grace after it last reached the database, marked ``WLM-Served-From: cache``, with the
rule applied at the moment of the question; what it does not know is Django's 503. It
tries the database at most once a retry interval, and its first read after the outage
forgets what the log cannot vouch for. The management API, the pages and the intake
answer 503 with ``Retry-After``; the accounting buffer and the notifier wait. ``world``'s
hotel has the access point 02:00:00:00:00:01. The same with a real cluster stopped under
the production server: wlm/tests/test_database_outage.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import threading

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, ProgrammingError
from django.test import Client, RequestFactory

from wlm.connections import accounting
from wlm.connections.models import IntakeKey, LocationDay
from wlm.connections.tests.test_radius_accounting import NOW as STARTS_SEEN
from wlm.connections.tests.test_radius_accounting import start
from wlm.dataplane.cache import Entitlements, Unavailable
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.models import Change
from wlm.dataplane.tests.test_front import (
    Clock,
    NotDjango,
    full,
    lean,
    path,
    post_lean,
    token,
)
from wlm.lib import problems
from wlm.lib.database import RETRY_AFTER
from wlm.licenses import lifecycle
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.notifications.management.commands import notifier
from wlm.tests.away import database_away

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
GRACE = 900.0
PROBLEM = "application/problem+json"
AUTHORIZE = "/api/v1/radius/authorize/"
MARK = "wlm-served-from"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def front(clock):
    return DataPlaneFront(
        NotDjango(),
        Entitlements(monotonic=clock, grace=GRACE),
        accounting.Buffer(writer=False),
    )


def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token(user)}"}


def assert_unavailable(answer) -> dict:
    """A (status, headers, body) of Django's 503 for the database away."""
    status, headers, body = answer
    assert status == 503, body
    assert headers["content-type"] == PROBLEM
    assert headers["retry-after"] == str(RETRY_AFTER)
    problem = json.loads(body)
    assert (problem["status"], problem["type"]) == (503, problems.PROBLEM_BASE + "unavailable")
    return problem


def response(answer) -> tuple[int, dict, bytes]:
    """A Django test response as (status, headers with lower-case names, body)."""
    names = {name.lower(): value for name, value in answer.headers.items()}
    return answer.status_code, names, answer.content


# --- the entitlement check --------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_the_entitlement_is_answered_from_memory_marked_with_the_same_body(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    before = lean(front, path(world.hotel), **auth(world.gateway))
    assert before[0] == 200 and MARK not in before[1]
    with database_away():
        clock.now += 0.25  # the next refresh finds the database away
        during = lean(front, path(world.hotel), **auth(world.gateway))
    assert (during[0], during[2]) == (200, before[2])
    assert during[1] == {**before[1], MARK: "cache"}
    assert front.django.calls == 0


def test_validity_is_still_computed_at_the_moment_of_the_question(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2025, 3, 10), years=2)  # ends 2027-03-10
    # Europe/Madrid: the end date starts at 2027-03-09T23:00Z
    with time_machine.travel(dt.datetime(2027, 3, 9, 22, 59, 59, tzinfo=dt.UTC), tick=False):
        ok = json.loads(lean(front, path(world.hotel), **auth(world.gateway))[2])
    with database_away(), time_machine.travel(dt.datetime(2027, 3, 9, 23, tzinfo=dt.UTC)):
        clock.now += 0.25
        status, headers, body = lean(front, path(world.hotel), **auth(world.gateway))
    assert ok["reason"] == "ok"
    assert (status, headers[MARK]) == (200, "cache")
    assert (json.loads(body)["service"], json.loads(body)["reason"]) == ("unavailable", "expired")


@time_machine.travel(NOW, tick=False)
def test_what_the_process_does_not_know_is_djangos_503(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    assert lean(front, path(world.hotel), **auth(world.gateway))[0] == 200
    staff = auth(world.staff)  # a token the process has not seen
    with database_away():
        clock.now += 0.25
        unseen = lean(front, path(world.shop), **auth(world.gateway))
        stranger = lean(front, path(world.hotel), **staff)
        django = full(path(world.shop), **auth(world.gateway))
    assert_unavailable(unseen)
    assert_unavailable(stranger)
    assert (unseen[0], unseen[2]) == (django[0], django[2])  # the same problem
    assert django[1]["retry-after"] == str(RETRY_AFTER)
    assert front.django.calls == 0


@time_machine.travel(NOW, tick=False)
def test_the_grace_ends_and_then_nothing_is_served_from_memory(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    assert lean(front, path(world.hotel), **auth(world.gateway))[0] == 200
    with database_away():
        clock.now += GRACE - 1
        assert lean(front, path(world.hotel), **auth(world.gateway))[1][MARK] == "cache"
        clock.now += 2  # past the grace since the database last answered
        assert_unavailable(lean(front, path(world.hotel), **auth(world.gateway)))
        clock.now += 1
        with pytest.raises(Unavailable):  # the facts too, not only the token
            front.entitlements.facts(world.hotel.pk)


def test_the_cache_s_grace_with_the_monotonic_clock(world, clock):
    """``Entitlements`` alone: its facts for the grace after its last refresh."""
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    entitlements = Entitlements(monotonic=clock, grace=60)
    known = entitlements.facts(world.hotel.pk)
    with database_away():
        for _ in range(4):  # four retries, each a failed refresh
            clock.now += 15
            assert entitlements.facts(world.hotel.pk) == known
            assert entitlements.outage.away
        with pytest.raises(Unavailable):
            entitlements.facts(world.shop.pk)  # never read
        clock.now += 1
        with pytest.raises(Unavailable):
            entitlements.facts(world.hotel.pk)  # 61 s since the log was read
    clock.now += 1  # the next try, the database back
    assert entitlements.facts(world.hotel.pk) == known  # read again
    assert not entitlements.outage.away


@time_machine.travel(NOW, tick=False)
def test_the_database_is_tried_at_most_once_a_second(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    assert lean(front, path(world.hotel), **auth(world.gateway))[0] == 200
    with database_away() as tried:
        clock.now += 0.25
        assert lean(front, path(world.hotel), **auth(world.gateway))[0] == 200
        assert len(tried) == 1  # the refresh found it away
        failed = clock.now
        for _ in range(19):  # 0.95 s of requests, some for what the process does not know
            clock.now += 0.05
            lean(front, path(world.hotel), **auth(world.gateway))
            lean(front, path(world.shop), **auth(world.gateway))
        assert len(tried) == 1
        clock.now = failed + 1
        assert lean(front, path(world.hotel), **auth(world.gateway))[1][MARK] == "cache"
        assert len(tried) == 2  # a second later: tried again, once


@time_machine.travel(NOW, tick=False)
def test_back_from_an_outage_the_process_forgets_what_the_log_cannot_vouch_for(world, front, clock):
    license = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    assert json.loads(lean(front, path(world.hotel), **auth(world.gateway))[2])["reason"] == "ok"
    with database_away():
        clock.now += 0.25
        assert lean(front, path(world.hotel), **auth(world.gateway))[1][MARK] == "cache"
    # a denial whose log row the process never sees (a failover lost it, say)
    lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    Change.objects.all().delete()
    clock.now += 1  # the next try
    status, headers, body = lean(front, path(world.hotel), **auth(world.gateway))
    assert (status, MARK in headers) == (200, False)
    assert json.loads(body)["reason"] == "access_denied"


# --- RADIUS -----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_radius_is_answered_from_memory_and_an_unknown_access_point_is_a_503(world, front, clock):
    make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    question = {"called_station_id": "02-00-00-00-00-01:Guests", "calling_station_id": "AA"}
    before = post_lean(front, AUTHORIZE, question, world.gateway)
    assert before[0] == 200
    with database_away():
        clock.now += 0.25
        during = post_lean(front, AUTHORIZE, question, world.gateway)
        unknown = {**question, "called_station_id": "02-00-00-00-00-99:Guests"}
        stranger = post_lean(front, AUTHORIZE, unknown, world.gateway)
    assert (during[0], during[2], during[1][MARK]) == (200, before[2], "cache")
    assert_unavailable(stranger)  # not a Reject: the access point may well be registered


@time_machine.travel(STARTS_SEEN, tick=False)
def test_accounting_is_kept_while_the_database_is_away_and_written_once_back(
    world, front, clock, caplog
):
    make_license(world, S.PENDING_START)
    buffer = front.accounting
    assert post_lean(front, "/api/v1/radius/accounting/", start(1), world.gateway)[0] == 204
    with database_away(), caplog.at_level(logging.WARNING, "wlm.radius"):
        clock.now += 0.25
        status, headers, _body = post_lean(
            front, "/api/v1/radius/accounting/", start(2), world.gateway
        )
        assert (status, headers[MARK]) == (204, "cache")
        assert (buffer.flush(), buffer.flush(), len(buffer)) == (0, 0, 2)
    logged = [r.getMessage()[:50] for r in caplog.records if r.name == "wlm.radius"]
    assert logged == ["RADIUS accounting: the database cannot be reached "]  # not every try
    assert buffer.flush() == 2
    assert sum(LocationDay.objects.values_list("events", flat=True)) == 2
    buffer.add(world.gateway.pk, buffer_packet(world, 2))  # FreeRADIUS sends it again
    assert buffer.flush() == 1
    assert sum(LocationDay.objects.values_list("events", flat=True)) == 2  # counted once


def buffer_packet(world, n: int) -> accounting.Packet:
    data = start(n)
    return accounting.packet(
        status_type="Start",
        location=str(world.hotel.pk),
        station="02:00:00:00:00:01",
        device=data["calling_station_id"],
        session=data["acct_session_id"],
        event_timestamp=int(data["event_timestamp"]),
        now=STARTS_SEEN,
    )


# --- Django: the management API, the pages, the intake ------------------------------------


def test_the_management_api_answers_503_with_retry_after(world, api):
    client = api(world.dist_admin)
    with database_away():
        answer = client.get("/api/v1/licenses/")
    problem = assert_unavailable(response(answer))
    assert problem["detail"] == str(problems.UNAVAILABLE_DETAIL)
    assert client.get("/api/v1/licenses/").status_code == 200  # at once when it is back


def test_pages_answer_503_a_page_for_a_browser_and_a_problem_otherwise(world, caplog):
    browser = Client(raise_request_exception=False)
    browser.force_login(world.org_admin)
    with database_away(), caplog.at_level(logging.ERROR, "django.request"):
        page = browser.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")
        other = browser.get("/")
        login = Client(raise_request_exception=False).post(  # read by the view itself
            "/accounts/login/", {"username": "org_admin", "password": "x"}
        )
    assert (page.status_code, page["Retry-After"]) == (503, str(RETRY_AFTER))
    assert page["Content-Type"].startswith("text/html")
    assert b"Service Unavailable" in page.content
    assert_unavailable(response(other))
    assert login.status_code == 503
    # one line each in the log, without the same traceback every time
    lines = [r for r in caplog.records if r.name == "django.request"]
    assert [r.exc_info for r in lines] == [None, None, None]
    assert all("the database is away" in r.getMessage() for r in lines)
    assert browser.get("/", HTTP_ACCEPT="text/html").status_code == 200


def test_the_intake_answers_503_and_the_gateway_s_retry_counts_once(world, api):
    make_license(world, S.PENDING_START)
    client = api(world.gateway)
    body = {"events": [{"location": str(world.hotel.pk), "device": "AA-BB-CC-00-00-01"}]}
    with database_away():
        refused = client.post(
            "/api/v1/connections/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1"
        )
    assert_unavailable(response(refused))
    assert not IntakeKey.objects.exists()
    first = client.post("/api/v1/connections/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = client.post("/api/v1/connections/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert (first.status_code, first.json()["accepted"]) == (200, 1)
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")
    assert sum(LocationDay.objects.values_list("events", flat=True)) == 1


def test_other_database_errors_are_not_a_503():
    """A broken constraint or bad SQL is a bug, not the database away."""
    request = RequestFactory().get("/api/v1/licenses/")
    for error in (ProgrammingError("bad SQL"), IntegrityError("a foreign key")):
        try:
            raise error
        except type(error):
            assert problems.handler500(request).status_code == 500
        assert problems.exception_handler(error, {"request": request}) is None


# --- the notifier -----------------------------------------------------------------------


def test_the_notifier_waits_for_the_database_without_exiting(world, caplog):
    """More failed passes than ``--max-failures``: the database away is not a crash. The
    waits double from a second up to the interval; once back, the usual interval."""
    command = notifier.Command(stdout=io.StringIO())
    stop, waits = threading.Event(), []
    outage = contextlib.ExitStack()

    def rest(_stop, seconds, poll_bulk=True):
        waits.append((seconds, poll_bulk))
        if len(waits) == 8:
            outage.close()  # the database is back
        if len(waits) == 9:
            stop.set()

    command._rest = rest
    outage.enter_context(database_away())
    with caplog.at_level(logging.WARNING, "wlm.notifier"):
        command._loop(stop, once=False, interval=10, max_failures=3)
    away = [(1, False), (2, False), (4, False), (8, False), *[(10, False)] * 4]
    assert waits == [*away, (10, True)]  # 8 failed passes > 3, then a pass
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "cannot be reached" in messages[0]
    assert messages[1] == "notifier: the database answers again"


def test_the_notifier_once_still_fails_without_the_database():
    with database_away(), pytest.raises(CommandError):
        call_command("notifier", "--once", stdout=io.StringIO())
