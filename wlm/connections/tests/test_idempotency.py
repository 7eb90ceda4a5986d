"""A retry-safe intake: ``Idempotency-Key`` on ``POST /api/v1/connections/``.

A gateway that timed out resends its batch with the same key: the first answer comes
back (``Idempotent-Replayed: true``) and nothing is counted twice. The same key with
another body is a 422; keys live 24 hours (a setting); concurrent retries on PostgreSQL count once.
"""

import datetime as dt
import io
import json
import threading
import time

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from wlm.conftest import make_user, provisioned_license
from wlm.connections import services as intake
from wlm.connections.models import IntakeKey, LocationDay, PendingDevice
from wlm.licenses import lifecycle, services
from wlm.licenses.models import EventKind, License, LicenseStatus
from wlm.licenses.tests.test_races import WORKERS
from wlm.tenancy.models import Role, TenantType
from wlm.tests.races import race

URL = "/api/v1/connections/"
PROBLEM = "application/problem+json"
UTC = dt.UTC
PROVISIONED = dt.datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
NOW = dt.datetime(2027, 6, 30, 14, 0, tzinfo=UTC)
SEEN = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)
REPLAYED = "Idempotent-Replayed"


def postgres_only(test):
    """Real concurrent sessions: committed rows, row locks (PostgreSQL)."""
    for mark in (
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
        pytest.mark.postgres_only,
    ):
        test = mark(test)
    return test


def mac(n: int) -> str:
    return f"AA:BB:CC:DD:EE:{n:02X}"


def events_at(location, devices, seen_at=SEEN) -> list[dict]:
    return [
        {"location": str(location.pk), "device": mac(n), "seen_at": seen_at.isoformat()}
        for n in devices
    ]


def post(api, user, body, *, key=None, at=NOW):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    with time_machine.travel(at, tick=False):
        return api(user).post(URL, body, format="json", **headers)


def counted():
    """What the intake stores: the daily events, the pending devices, the starts."""
    return (
        LocationDay.objects.aggregate(total=Sum("events"))["total"] or 0,
        sorted(PendingDevice.objects.values_list("license_id", "device", "first_seen")),
        sorted(License.objects.values_list("pk", "status")),
    )


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["status"] == status
    return response.json()


@pytest.fixture
def pending(world):
    """An automatic-start license for the shop: five distinct devices start it."""
    license = provisioned_license(world, world.shop, PROVISIONED)
    assert license.status == LicenseStatus.PENDING_START
    return license


# --- Replays ------------------------------------------------------------------------------


def test_a_retried_batch_is_answered_again_and_counted_once(world, api, pending):
    body = {"events": [*events_at(world.shop, range(3)), {"location": "nowhere", "device": "x"}]}
    first = post(api, world.gateway, body, key="batch-0001")
    assert first.status_code == 200, first.content
    assert REPLAYED not in first
    assert first.json()["accepted"] == 3
    assert [row["index"] for row in first.json()["rejected"]] == [3]
    after_first = counted()
    assert after_first[0] == 3
    assert len(after_first[1]) == 3

    again = post(api, world.gateway, body, key="batch-0001", at=NOW + dt.timedelta(minutes=5))
    assert again.status_code == 200, again.content
    assert again[REPLAYED] == "true"
    assert again.content == first.content  # the same bytes, in the same key order
    assert counted() == after_first


def test_a_retried_batch_that_started_a_license_starts_it_once(world, api, pending):
    body = {"events": events_at(world.shop, range(5))}
    first = post(api, world.gateway, body, key="start-batch")
    assert first.json()["started"] == [pending.pk]
    again = post(api, world.gateway, body, key="start-batch")
    assert again[REPLAYED] == "true"
    assert again.json() == first.json()  # still says which license this batch started
    assert pending.events.filter(kind=EventKind.STARTED).count() == 1
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 5


def test_the_body_is_compared_as_json_not_as_bytes(world, api, pending):
    """A retry serialised again (other key order, other spacing) is the same batch."""
    rows = events_at(world.shop, range(2))
    first = post(api, world.gateway, {"events": rows}, key="k")
    reordered = json.dumps({"events": [dict(reversed(row.items())) for row in rows]}, indent=2)
    with time_machine.travel(NOW, tick=False):
        again = api(world.gateway).post(
            URL, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
        )
    assert again[REPLAYED] == "true"
    assert again.content == first.content
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 2


def test_the_same_key_with_another_body_is_a_422_and_counts_nothing(world, api, pending):
    post(api, world.gateway, {"events": events_at(world.shop, range(2))}, key="k-1")
    before = counted()
    other = post(api, world.gateway, {"events": events_at(world.shop, range(2, 4))}, key="k-1")
    problem = assert_problem(other, 422)
    assert "Idempotency-Key" in problem["detail"]
    assert REPLAYED not in other
    assert counted() == before
    # the first body is still answered from the stored answer
    assert (
        post(api, world.gateway, {"events": events_at(world.shop, range(2))}, key="k-1")[REPLAYED]
        == "true"
    )


def test_without_a_key_a_resent_batch_counts_twice_as_before(world, api, pending):
    body = {"events": events_at(world.hotel, range(3))}
    first, second = post(api, world.gateway, body), post(api, world.gateway, body)
    assert REPLAYED not in first and REPLAYED not in second
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 6
    assert not IntakeKey.objects.exists()


def test_keys_belong_to_the_gateway_that_sent_them(world, api, pending):
    """Two gateways may pick the same key: each one's batch is its own."""
    other = make_user("gateway2", TenantType.STAFF, role=Role.GATEWAY)
    body = {"events": events_at(world.hotel, range(3))}
    first = post(api, world.gateway, body, key="same-key")
    second = post(api, other, body, key="same-key")
    assert REPLAYED not in first and REPLAYED not in second
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 6
    assert IntakeKey.objects.filter(key="same-key").count() == 2
    # and another body under the other gateway's key is no conflict of the first one's
    third = post(api, other, {"events": events_at(world.hotel, [9])}, key="another")
    assert third.status_code == 200


def test_a_batch_refused_as_a_whole_keeps_no_key(world, api, pending):
    """A 400 for the whole body is not stored: the same body gets the same 400 again,
    and the key stays free for the corrected batch."""
    refused = post(api, world.gateway, {"events": {}}, key="k-400")
    assert_problem(refused, 400)
    assert not IntakeKey.objects.exists()
    assert_problem(post(api, world.gateway, {"events": {}}, key="k-400"), 400)
    fixed = post(api, world.gateway, {"events": events_at(world.hotel, range(2))}, key="k-400")
    assert fixed.status_code == 200
    assert REPLAYED not in fixed
    assert IntakeKey.objects.get().key == "k-400"


def test_a_batch_of_only_refused_events_is_kept_and_replayed(world, api, pending):
    body = {"events": [{"location": "nowhere", "device": "x"}]}
    first = post(api, world.gateway, body, key="all-bad")
    assert first.json()["accepted"] == 0
    again = post(api, world.gateway, body, key="all-bad")
    assert again[REPLAYED] == "true"
    assert again.content == first.content


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "café", "tab\there", "new\nline", "\x7f"],
    ids=["empty", "too-long", "non-ascii", "tab", "newline", "delete"],
)
def test_a_bad_key_is_a_400_and_counts_nothing(world, api, pending, key):
    before = counted()
    problem = assert_problem(
        post(api, world.gateway, {"events": events_at(world.shop, range(2))}, key=key), 400
    )
    assert "Idempotency-Key" in problem["errors"]
    assert counted() == before
    assert not IntakeKey.objects.exists()


def test_a_key_of_255_printable_characters_is_taken(world, api, pending):
    key = ("A-z 0~" * 60)[:255]
    body = {"events": events_at(world.hotel, [1])}
    assert post(api, world.gateway, body, key=key).status_code == 200
    assert post(api, world.gateway, body, key=key)[REPLAYED] == "true"


def test_only_the_gateway_may_use_a_key(world, api, pending):
    body = {"events": events_at(world.shop, range(2))}
    assert_problem(post(api, world.staff, body, key="k"), 403)
    assert_problem(post(api, None, body, key="k"), 401)
    assert not IntakeKey.objects.exists()


# --- 24 hours ------------------------------------------------------------------------------


def test_a_key_is_remembered_for_24_hours_then_is_new(world, api, pending):
    body = {"events": events_at(world.hotel, range(2))}
    post(api, world.gateway, body, key="daily")
    almost = NOW + intake.key_lifetime() - dt.timedelta(seconds=1)
    assert post(api, world.gateway, body, key="daily", at=almost)[REPLAYED] == "true"
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 2
    later = NOW + intake.key_lifetime()
    fresh = post(api, world.gateway, body, key="daily", at=later)
    assert fresh.status_code == 200
    assert REPLAYED not in fresh
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 4
    # the renewed key is remembered from its new use on
    assert post(api, world.gateway, body, key="daily", at=later)[REPLAYED] == "true"


def test_the_window_is_a_setting(world, api, pending, settings):
    """Gateways that retry for longer get a longer window (RETENTION_IDEMPOTENCY_HOURS)."""
    settings.RETENTION_IDEMPOTENCY_HOURS = 72
    body = {"events": events_at(world.hotel, range(2))}
    post(api, world.gateway, body, key="slow")
    two_days = NOW + dt.timedelta(days=2)
    assert post(api, world.gateway, body, key="slow", at=two_days)[REPLAYED] == "true"
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 2
    three_days = NOW + dt.timedelta(hours=72)
    assert REPLAYED not in post(api, world.gateway, body, key="slow", at=three_days)


def test_an_expired_key_takes_another_body(world, api, pending):
    post(api, world.gateway, {"events": events_at(world.hotel, [1])}, key="old")
    assert IntakeKey.objects.filter(key="old").exists()
    later = NOW + dt.timedelta(days=2)
    other = post(
        api, world.gateway, {"events": events_at(world.hotel, [2], later)}, key="old", at=later
    )
    assert other.status_code == 200, other.content
    assert REPLAYED not in other


def test_the_notifier_prunes_old_keys(world, api, pending):
    from django.core.management import call_command

    post(api, world.gateway, {"events": events_at(world.hotel, [1])}, key="old")
    assert IntakeKey.objects.filter(key="old").exists()
    with time_machine.travel(NOW + dt.timedelta(days=3), tick=False):
        call_command("notifier", "--once", stdout=io.StringIO())
    assert not IntakeKey.objects.exists()


# --- What it costs --------------------------------------------------------------------------


def test_without_a_key_the_intake_runs_no_extra_query(world, api, pending):
    with CaptureQueriesContext(connection) as queries:
        response = post(api, world.gateway, {"events": events_at(world.shop, range(3))})
    assert response.status_code == 200
    table = IntakeKey._meta.db_table
    assert not [q["sql"] for q in queries if table in q["sql"]]


def test_a_key_costs_two_queries_and_a_replay_writes_nothing(world, api, pending):
    client = api(world.gateway)

    def send(devices, **headers):
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as sent:
            response = client.post(
                URL, {"events": events_at(world.hotel, devices)}, format="json", **headers
            )
        assert response.status_code == 200, response.content
        return [query["sql"] for query in sent]

    with time_machine.travel(NOW, tick=False):  # the token's first use notes it (one UPDATE)
        client.get("/api/v1/modules/")
    plain = send(range(3))
    keyed = send(range(3, 6), HTTP_IDEMPOTENCY_KEY="cost")
    assert len(keyed) == len(plain) + 2, keyed  # claim the key, store the answer
    replay = send(range(3, 6), HTTP_IDEMPOTENCY_KEY="cost")
    writes = [sql for sql in replay if sql.split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    table = IntakeKey._meta.db_table
    assert all(table in sql for sql in writes), writes  # only the claim, which changes nothing
    assert len(replay) <= len(plain) + 1


# --- The schema ------------------------------------------------------------------------------


def test_the_schema_documents_the_key_and_the_422(api, world):
    schema = api(world.staff).get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"][URL]["post"]
    header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert header and header[0]["in"] == "header"
    assert not header[0].get("required", False)
    assert header[0]["schema"]["maxLength"] == 255
    conflict = operation["responses"]["422"]
    assert "application/problem+json" in conflict["content"]
    assert REPLAYED in operation["responses"]["200"]["headers"]


# --- Concurrent retries (PostgreSQL) ------------------------------------------------------------


def _started_license(world) -> License:
    terms = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="annual", aps=5
    )
    license = services.create_license(world.dist_admin, terms)
    return lifecycle.provision(world.org_admin, world.shop, license.key)


def _live_body(world) -> dict:
    moment = dt.datetime.now(UTC)  # after provisioning: the events count
    return {
        "events": [
            {
                "location": str(world.shop.pk),
                "device": f"02:00:00:00:00:{n:02x}",
                "seen_at": (moment + dt.timedelta(seconds=1 + n)).isoformat(),
            }
            for n in range(5)
        ]
    }


@postgres_only
def test_parallel_retries_of_one_key_count_once(world, api):
    license = _started_license(world)
    body = _live_body(world)
    clients = [api(world.gateway) for _ in range(WORKERS)]

    def send(client):
        return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="parallel")

    outcomes = race(send, [(client,) for client in clients])
    assert all(getattr(o, "status_code", None) == 200 for o in outcomes), outcomes
    assert len({o.content for o in outcomes}) == 1  # every one got the first answer
    assert sorted(o.get(REPLAYED) for o in outcomes if o.has_header(REPLAYED)) == ["true"] * (
        WORKERS - 1
    )
    assert outcomes[0].json()["started"] == [license.pk]
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 5
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
    assert license.events.filter(kind=EventKind.STARTED).count() == 1
    assert IntakeKey.objects.count() == 1


def _wait_for_lock_waits(count: int, timeout: float = 30.0) -> None:
    """Until ``count`` sessions wait for a lock (polls PostgreSQL's pg_locks)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"fewer than {count} sessions waited for a lock")


@postgres_only
def test_a_retry_while_the_first_is_uncommitted_waits_and_replays(world, api):
    """The first request has claimed the key and is held (its license is locked by a third
    session); the retry waits on the key's unique index, then answers the first answer."""
    license = _started_license(world)
    body = _live_body(world)
    locked, release = threading.Event(), threading.Event()

    def hold_the_license():
        try:
            with transaction.atomic():
                License.objects.select_for_update().get(pk=license.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    answers, clients = {}, {"first": api(world.gateway), "retry": api(world.gateway)}

    def send(name):
        try:
            answers[name] = clients[name].post(
                URL, body, format="json", HTTP_IDEMPOTENCY_KEY="held"
            )
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_license)
    holder.start()
    assert locked.wait(timeout=30)
    first = threading.Thread(target=send, args=("first",))
    first.start()
    _wait_for_lock_waits(1)  # the first request: key claimed, waiting for the license
    retry = threading.Thread(target=send, args=("retry",))
    retry.start()
    _wait_for_lock_waits(2)  # the retry: waiting for the first one's key row
    release.set()
    for thread in (holder, first, retry):
        thread.join(timeout=60)
    assert answers["first"].status_code == 200, answers["first"].content
    assert not answers["first"].has_header(REPLAYED)
    assert answers["retry"].status_code == 200, answers["retry"].content
    assert answers["retry"][REPLAYED] == "true"
    assert answers["retry"].content == answers["first"].content
    assert answers["first"].json()["started"] == [license.pk]
    assert LocationDay.objects.aggregate(total=Sum("events"))["total"] == 5
    assert license.events.filter(kind=EventKind.STARTED).count() == 1
