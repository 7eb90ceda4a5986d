"""``/metrics``: the Prometheus text, parsed as Prometheus parses it; the counters move
with real requests, intake batches, RADIUS answers and notifier passes; who may scrape."""

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client

from wlm.conftest import token_for
from wlm.dataplane.tests.test_front import post_lean
from wlm.licenses.api import ModuleViewSet
from wlm.notifications.models import Notice
from wlm.notifications.tests.conftest import local_midnight, make_in_use
from wlm.operations.tests.conftest import answer, get

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
FIRST_NOTICE = dt.date(2027, 6, 1)  # the first notice of make_in_use's cycle


def test_the_text_parses_and_holds_exactly_the_documented_metrics(scrape):
    """docs/operations.md's list of names is the list a scrape gives (Grafana's)."""
    text = DOCS.read_text()
    start = text.index("## Probes and metrics")
    section = text[start : text.index("\n## ", start)]  # to the next section
    documented = set(re.findall(r"`(wlm_[a-z_]+)`", section))
    found = scrape()
    assert found.content_type == "text/plain; version=0.0.4; charset=utf-8"
    exposed = {
        name + ("_total" if family.type == "counter" else "")
        for name, family in found.families.items()
        if name.startswith("wlm_")
    }
    assert exposed == documented
    # and the queries below the list name only what is there
    series = exposed | {
        name + suffix
        for name, family in found.families.items()
        if family.type == "histogram"
        for suffix in ("_bucket", "_sum", "_count")
    }
    assert set(re.findall(r"wlm_[a-z_]+", section)) <= series


def test_openmetrics_for_a_scraper_that_asks_for_it(front):
    accept = "application/openmetrics-text; version=1.0.0"
    status, headers, body = get(front, "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_ACCEPT=accept)
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


def test_django_requests_by_route_method_and_status(world, api, scrape):
    before = scrape()
    assert api(world.org_admin).get("/api/v1/modules/").status_code == 200
    assert api().get("/api/v1/modules/").status_code == 401
    after = scrape()
    route = {"route": "api:module-list", "method": "GET"}
    for status in ("200", "401"):
        assert after.value("wlm_http_requests_total", **route, status=status) == (
            before.value("wlm_http_requests_total", **route, status=status) + 1
        )
    count = "wlm_http_request_duration_seconds_count"
    assert after.value(count, **route) == before.value(count, **route) + 2
    assert after.value("wlm_http_request_duration_seconds_sum", **route) > 0
    # the route, never the path: no label per id
    api(world.org_admin).get(f"/api/v1/locations/{world.hotel.pk}/")
    api(world.org_admin).get(f"/api/v1/locations/{world.shop.pk}/")
    routes = {s.labels["route"] for s in scrape().families["wlm_http_requests"].samples}
    assert "api:location-detail" in routes
    assert not any(str(world.hotel.pk) in route for route in routes)


def test_a_path_no_pattern_matches_is_unrouted(scrape):
    before = scrape().value("wlm_http_requests_total", route="unrouted", method="GET", status="404")
    assert Client().get("/no/such/page/").status_code == 404
    after = scrape().value("wlm_http_requests_total", route="unrouted", method="GET", status="404")
    assert after == before + 1


def test_the_lean_paths_answers_and_its_cache(world, front, scrape):
    url = f"/api/v1/locations/{world.hotel.pk}/entitlement/"
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(world.gateway)}"}
    before = scrape()
    assert get(front, url, **auth)[0] == 200  # a miss, then a hit
    assert get(front, url, **auth)[0] == 200
    assert get(front, url)[0] == 418  # no token: Django's (NotDjango's) to answer
    after = scrape()

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    answers = "wlm_lean_answers_total"
    assert moved(answers, endpoint="entitlement", outcome="answered") == 2
    assert moved(answers, endpoint="entitlement", outcome="django") == 1
    assert moved("wlm_lean_cache_lookups_total", cache="facts", result="miss") == 1
    assert moved("wlm_lean_cache_lookups_total", cache="facts", result="hit") == 1


def test_radius_answers_by_reason(world, front, scrape):
    """The hotel's access point and no license there; an unknown access point."""
    before = scrape()
    path = "/api/v1/radius/authorize/"
    hotel = {"called_station_id": "02-00-00-00-00-01:Guests"}
    unknown = {"called_station_id": "02-00-00-00-00-99:Guests"}
    assert post_lean(front, path, hotel, world.gateway)[0] == 401
    assert post_lean(front, path, unknown, world.gateway)[0] == 401
    assert post_lean(front, path, unknown, world.gateway)[0] == 401
    after = scrape()

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("wlm_radius_authorize_total", result="reject", reason="no_license") == 1
    reason = "unknown_access_point"
    assert moved("wlm_radius_authorize_total", result="reject", reason=reason) == 2
    assert moved("wlm_radius_authorize_total", result="accept", reason="ok") == 0
    answers = "wlm_lean_answers_total"
    assert moved(answers, endpoint="radius_authorize", outcome="answered") == 3
    assert moved("wlm_lean_cache_lookups_total", cache="access_points", result="miss") == 2
    assert moved("wlm_lean_cache_lookups_total", cache="access_points", result="hit") == 1


def test_intake_events_by_outcome(world, api, scrape):
    location = str(world.hotel.pk)
    events = [
        {"location": location, "device": "AA:BB:CC:DD:EE:01"},
        {"location": location, "device": "AA:BB:CC:DD:EE:01"},  # the same device again
        {"location": location, "device": "AA:BB:CC:DD:EE:02"},
        {"location": "not-a-location", "device": "AA:BB:CC:DD:EE:03"},
    ]
    before = scrape()
    response = api(world.gateway).post("/api/v1/connections/", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["accepted"], response.json()["duplicates"]) == (3, 1)
    # a replay of the same batch and key is answered, not counted again
    for _ in range(2):
        replay = api(world.gateway).post(
            "/api/v1/connections/", {"events": events[:1]}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
        assert replay.status_code == 200
    after = scrape()

    def moved(outcome):
        labels = {"source": "api", "outcome": outcome}
        return after.value("wlm_intake_events_total", **labels) - before.value(
            "wlm_intake_events_total", **labels
        )

    assert (moved("accepted"), moved("duplicate"), moved("rejected")) == (4, 1, 1)


def test_a_start_by_the_intake(world, api, scrape, settings):
    """The fifth distinct device starts a license pending start."""
    from wlm.conftest import provisioned_license

    settings.LICENSE_START_DEVICES = 2
    provisioned_license(world, world.hotel, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    before = scrape().value("wlm_intake_starts_total", source="api")
    events = [{"location": str(world.hotel.pk), "device": f"AA:BB:CC:DD:EE:0{n}"} for n in (1, 2)]
    response = api(world.gateway).post("/api/v1/connections/", {"events": events}, format="json")
    assert len(response.json()["started"]) == 1
    assert scrape().value("wlm_intake_starts_total", source="api") == before + 1


def test_a_notifier_pass_counts_its_deliveries_and_the_lag(world, scrape):
    license = make_in_use(world)
    due = Notice.objects.get(license=license, number=1).due_at
    assert due == local_midnight(FIRST_NOTICE)
    with time_machine.travel(due + dt.timedelta(minutes=5), tick=False):
        waiting = scrape()
        assert waiting.value("wlm_notifier_lag_seconds", queue="notices") == 300.0
        assert waiting.value("wlm_notifier_lag_seconds", queue="deliveries") == 0.0
        call_command("notifier", "--once")
        after = scrape()
    assert len(mail.outbox) == 4

    def moved(name, **labels):
        return after.value(name, **labels) - waiting.value(name, **labels)

    assert moved("wlm_deliveries_total", channel="email", outcome="sent") == 4
    assert moved("wlm_deliveries_total", channel="inbox", outcome="sent") == 3
    assert moved("wlm_notifier_passes_total", outcome="ok") == 1
    assert after.value("wlm_notifier_lag_seconds", queue="notices") == 0.0
    assert after.value("wlm_notifiers_alive") == 1
    assert after.value("wlm_notifier_last_beat_age_seconds") == 0.0


def test_retried_and_failed_deliveries(world, scrape, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens: refused
    settings.NOTICE_MAX_ATTEMPTS = 2
    license = make_in_use(world)
    due = Notice.objects.get(license=license, number=1).due_at
    before = scrape()
    with time_machine.travel(due, tick=False):
        call_command("notifier", "--once")
    with time_machine.travel(due + dt.timedelta(hours=1), tick=False):
        call_command("notifier", "--once")
    after = scrape()

    def moved(outcome):
        labels = {"channel": "email", "outcome": outcome}
        return after.value("wlm_deliveries_total", **labels) - before.value(
            "wlm_deliveries_total", **labels
        )

    assert (moved("sent"), moved("retried"), moved("failed")) == (0, 4, 4)


def test_a_request_failing_on_the_database_is_counted(world, api, scrape, monkeypatch):
    def away(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ModuleViewSet, "list", away)
    labels = {"where": "request", "kind": "operational"}
    before = scrape().value("wlm_database_errors_total", **labels)
    client = api(world.org_admin)
    client.raise_request_exception = False
    answer = client.get("/api/v1/modules/")  # the API's own 503 (wlm.lib.database)
    assert answer.status_code == 503 and answer["Retry-After"]
    assert scrape().value("wlm_database_errors_total", **labels) == before + 1


def test_the_database_up_gauge(scrape, monkeypatch):
    from wlm.notifications import worker

    assert scrape().value("wlm_database_up") == 1

    def away(now=None):
        raise OperationalError("the database is away")

    monkeypatch.setattr(worker, "lag", away)
    down = scrape()
    assert down.value("wlm_database_up") == 0
    assert not down.has("wlm_notifier_lag_seconds", queue="notices")


# --- who may scrape ---------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_this_machine_may_scrape_by_default(front, address):
    assert get(front, "/metrics", REMOTE_ADDR=address)[0] == 200


def test_another_address_is_refused_without_a_token(front):
    status, headers, body = answer(front, "/metrics", REMOTE_ADDR="203.0.113.9")
    assert status == 403
    assert headers["content-type"] == "application/problem+json"
    assert body["detail"] == "The metrics are served to the addresses of METRICS_ALLOW only."
    assert front.django.calls == 0


def test_a_request_through_a_proxy_is_not_this_machine(front):
    """A proxy on the same machine would make every client 127.0.0.1."""
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert get(front, "/metrics", **forwarded)[0] == 403


def test_the_allowed_networks(front, settings):
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert get(front, "/metrics", REMOTE_ADDR="10.20.30.40")[0] == 200
    assert get(front, "/metrics", REMOTE_ADDR="127.0.0.1")[0] == 403


def test_the_token_from_anywhere(front, settings):
    settings.METRICS_TOKEN_SHA256 = hashlib.sha256(b"s3cret-scraper").hexdigest()
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    for scheme in ("Bearer", "bearer", "Token"):
        auth = f"{scheme} s3cret-scraper"
        assert get(front, "/metrics", HTTP_AUTHORIZATION=auth, **elsewhere)[0] == 200
    status, headers, body = answer(front, "/metrics", **elsewhere)
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert body["detail"] == "Send the metrics token: Authorization: Bearer <token>."
    for wrong in ("Bearer s3cret", "Basic czNjcmV0", "Bearer", "s3cret-scraper"):
        assert get(front, "/metrics", HTTP_AUTHORIZATION=wrong, **elsewhere)[0] == 401
    # a wrong token is refused even from an allowed address
    assert get(front, "/metrics", HTTP_AUTHORIZATION="Bearer x", REMOTE_ADDR="127.0.0.1")[0] == 401
    assert get(front, "/metrics", REMOTE_ADDR="127.0.0.1")[0] == 200


def test_refusals_are_counted(front, scrape):
    before = scrape().value("wlm_probe_answers_total", probe="metrics", status="403")
    get(front, "/metrics", REMOTE_ADDR="203.0.113.9")
    assert scrape().value("wlm_probe_answers_total", probe="metrics", status="403") == before + 1
