"""``/healthz`` and ``/readyz`` on the lean path: 200, or 503 problem+json saying which
check failed; the notifier's heartbeat moved with time-machine."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client

from wlm.operations import probes
from wlm.operations.models import Heartbeat
from wlm.operations.services import KEEP, Pulse
from wlm.operations.tests.conftest import answer, get

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
READY_CHECKS = {"database": "ok", "migrations": "ok", "notifier": "ok"}


def beat(at: dt.datetime, *, interval: int = 60, host: str = "node-1", pid: int = 1) -> None:
    with time_machine.travel(at, tick=False):
        Pulse(interval, host=host, pid=pid).beat()


def readyz(front, at: dt.datetime = NOW) -> tuple[int, dict, dict]:
    with time_machine.travel(at, tick=False):
        return answer(front, "/readyz")


# --- /healthz ---------------------------------------------------------------------------


def test_healthz_answers_without_the_database(front, django_assert_num_queries):
    with django_assert_num_queries(0):
        status, headers, body = answer(front, "/healthz")
    assert (status, body) == (200, {"status": "ok"})
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store, private"
    assert front.django.calls == 0


def test_the_probes_answer_whatever_the_host_and_over_plain_http(front, settings):
    """An orchestrator probes a pod by its address; a load balancer behind TLS."""
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/api/v1/schema/", HTTP_HOST="10.1.2.3:8000").status_code == 400
    assert get(front, "/healthz", HTTP_HOST="10.1.2.3:8000")[0] == 200
    assert get(front, "/readyz", HTTP_HOST="10.1.2.3:8000")[0] in (200, 503)
    assert front.django.calls == 0


@pytest.mark.parametrize("method", ["post", "head", "delete"])
def test_other_methods_go_to_django(front, method):
    from django.test import RequestFactory

    from wlm.dataplane.tests.test_front import served

    served(front, getattr(RequestFactory(), method)("/healthz").environ)
    assert front.django.calls == 1


# --- /readyz ----------------------------------------------------------------------------


def test_readyz_with_a_fresh_notifier(front):
    beat(NOW - dt.timedelta(seconds=30))
    status, headers, body = readyz(front)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert body == {
        "status": "ready",
        "checks": READY_CHECKS,
        "notifier": {
            "required": True,
            "alive": 1,
            "last_beat_seconds": 30.0,
            "stale_after_seconds": 300,  # 5 intervals of 60 s
        },
    }


def test_readyz_costs_one_query_once_the_migrations_were_found_applied(
    front, django_assert_num_queries
):
    beat(NOW)
    assert readyz(front)[0] == 200  # compares the migrations (once per process)
    with django_assert_num_queries(1):
        assert readyz(front)[0] == 200


def test_readyz_without_any_notifier_says_so(front):
    status, headers, body = readyz(front)
    assert status == 503
    assert headers["content-type"] == "application/problem+json"
    assert body["type"].endswith("/not-ready")
    assert body["title"] == "Service Unavailable"
    assert body["detail"] == "No notifier has ever beaten (manage.py notifier)."
    assert body["checks"] == {**READY_CHECKS, "notifier": "absent"}


def test_readyz_fails_when_the_heartbeat_is_older_than_five_intervals(front):
    beat(NOW)
    assert readyz(front, NOW + dt.timedelta(seconds=300))[0] == 200
    status, _headers, body = readyz(front, NOW + dt.timedelta(seconds=301))
    assert status == 503
    assert body["checks"] == {**READY_CHECKS, "notifier": "stale"}
    assert body["detail"] == (
        "The latest notifier heartbeat is 301 seconds old; it is stale after 300."
    )
    assert body["notifier"]["alive"] == 0


def test_the_staleness_follows_each_notifiers_own_interval(front, settings):
    settings.READYZ_NOTIFIER_INTERVALS = 3
    beat(NOW, interval=10)  # e.g. `manage.py notifier --interval 10`
    assert readyz(front, NOW + dt.timedelta(seconds=30))[0] == 200
    assert readyz(front, NOW + dt.timedelta(seconds=31))[0] == 503


def test_one_live_notifier_of_several_is_enough(front):
    beat(NOW - dt.timedelta(hours=1), host="node-1")
    beat(NOW - dt.timedelta(seconds=5), host="node-2")
    status, _headers, body = readyz(front)
    assert status == 200
    assert body["notifier"]["alive"] == 1


def test_without_a_required_notifier_readiness_only_reports_it(front, settings):
    settings.READYZ_REQUIRE_NOTIFIER = False
    status, _headers, body = readyz(front)
    assert status == 200
    assert body["checks"] == {**READY_CHECKS, "notifier": "absent"}
    assert body["notifier"]["required"] is False


def test_readyz_names_a_migration_not_applied(front):
    beat(NOW)
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'operations' AND name = '0001_heartbeat'"
        )
    status, _headers, body = readyz(front)
    assert status == 503
    assert body["detail"] == "1 migration is not applied (manage.py migrate)."
    assert body["checks"] == {"database": "ok", "migrations": "unapplied", "notifier": "unknown"}
    assert body["unapplied_migrations"] == ["operations.0001_heartbeat"]


def test_readyz_when_the_database_does_not_answer(front, monkeypatch, scrape):
    """The database's own error (an address, a user name) is logged, never answered."""
    beat(NOW)
    assert readyz(front)[0] == 200

    def refused(now):
        raise OperationalError('connection to server at "10.9.8.7", port 5432 failed')

    monkeypatch.setattr(probes, "notifiers", refused)
    errors = scrape().value("wlm_database_errors_total", where="readyz", kind="operational")
    status, _headers, body = readyz(front)
    assert status == 503
    assert body["detail"] == "The database does not answer."
    assert body["checks"] == {"database": "unreachable", "migrations": "ok", "notifier": "unknown"}
    assert "10.9.8.7" not in str(body)
    monkeypatch.undo()
    after = scrape()
    assert after.value("wlm_database_errors_total", where="readyz", kind="operational") == (
        errors + 1
    )
    assert after.value("wlm_probe_answers_total", probe="readyz", status="503") >= 1


# --- the heartbeat ----------------------------------------------------------------------


def test_a_pulse_keeps_one_row_per_process_and_beats_between_batches_once_per_interval():
    with time_machine.travel(NOW, tick=False) as traveller:
        pulse = Pulse(60, host="node-1", pid=42)
        pulse.beat()
        traveller.shift(59)
        pulse.beat_if_due()  # not yet: no query, the row keeps its beat
        assert Heartbeat.objects.get().beat_at == NOW
        traveller.shift(1)
        pulse.beat_if_due()
        Pulse(60, host="node-2", pid=42).beat()
    rows = Heartbeat.objects.order_by("host").values_list("host", "pid", "beat_at", "interval")
    assert list(rows) == [
        ("node-1", 42, NOW + dt.timedelta(seconds=60), 60),
        ("node-2", 42, NOW + dt.timedelta(seconds=60), 60),
    ]


def test_a_starting_notifier_deletes_the_rows_of_notifiers_gone_for_a_week():
    beat(NOW - KEEP - dt.timedelta(seconds=1), host="gone")
    beat(NOW - KEEP + dt.timedelta(seconds=1), host="recent")
    beat(NOW, host="new")
    assert set(Heartbeat.objects.values_list("host", flat=True)) == {"recent", "new"}


def test_the_notifier_beats_and_makes_the_service_ready(front):
    assert readyz(front)[0] == 503
    with time_machine.travel(NOW, tick=False):
        call_command("notifier", "--once", "--interval", "30")
    heartbeat = Heartbeat.objects.get()
    assert (heartbeat.beat_at, heartbeat.interval) == (NOW, 30)
    status, _headers, body = readyz(front, NOW + dt.timedelta(seconds=150))
    assert status == 200, body
    assert readyz(front, NOW + dt.timedelta(seconds=151))[0] == 503


@pytest.mark.django_db(transaction=True)
# not marked postgres_only: behind PgBouncer (wlm/tests/test_pgbouncer.py runs those) the
# connection is the pooler's, which a server process ending does not drop
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a server process to end")
def test_a_connection_the_database_dropped_is_replaced_not_reported(front):
    """The server ends the probe's persistent connection (a restart, a failover): the
    next probe checks it, connects again and answers 200."""
    beat(NOW)
    assert readyz(front)[0] == 200
    backend = connection.connection.info.backend_pid
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    status, _headers, body = readyz(front)
    assert status == 200, body
    assert connection.connection.info.backend_pid != backend
