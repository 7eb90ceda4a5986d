"""Retention (wlm.retention): for each kind, what is past its keeping goes and what is not
stays; batches are bounded; nothing deleted is written again; the audit log's trigger
still refuses every ordinary change."""

import datetime as dt
import io
import logging
import re

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from wlm.audit import services as audit
from wlm.audit.models import AppendOnly, AuditEntry, Kind
from wlm.conftest import provisioned_license
from wlm.connections import services as intake
from wlm.connections.models import IntakeKey, LocationDay, PendingDevice
from wlm.dataplane.models import Change
from wlm.licenses import lifecycle
from wlm.licenses.models import BulkAction, BulkJob, BulkJobItem, BulkJobState, LicenseStatus
from wlm.locations.models import Room
from wlm.notifications import worker
from wlm.notifications.models import Attempt, Delivery, DeliveryState, Notice, NoticeState
from wlm.notifications.tests.conftest import DUE_DAYS, END, local_midnight, make_in_use
from wlm.retention import services as retention

UTC = dt.UTC
NOW = dt.datetime(2030, 3, 15, 12, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's append-only trigger"
)


def enforce(at=NOW, **kwargs) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return retention.enforce(**kwargs)


# --- daily connection aggregates -------------------------------------------------------


def test_connection_days_older_than_the_retention_go(world):
    kept_from = (NOW - 400 * DAY).date()  # RETENTION_CONNECTIONS_DAYS
    for day in (kept_from - 100 * DAY, kept_from - DAY, kept_from, NOW.date()):
        LocationDay.objects.create(location=world.hotel, day=day, events=3)
    LocationDay.objects.create(location=world.shop, day=kept_from - DAY, events=1)
    assert enforce() == {"connection days": 3}
    days = sorted(LocationDay.objects.values_list("day", flat=True))
    assert days == [kept_from, NOW.date()]


def test_zero_days_keeps_them_forever(world, settings):
    settings.RETENTION_CONNECTIONS_DAYS = 0
    LocationDay.objects.create(location=world.hotel, day=dt.date(2001, 1, 1), events=1)
    assert enforce() == {}
    assert LocationDay.objects.count() == 1


# --- devices of licenses waiting to start ------------------------------------------------


def device(license, n: int, seen: dt.datetime) -> PendingDevice:
    return PendingDevice.objects.create(
        license=license, device=f"{n:064x}", location=license.location, first_seen=seen
    )


def test_devices_of_a_license_waiting_to_start_stay_whatever_their_age(world):
    """They decide its start date (the fifth earliest device's day): deleting them would
    move it. A denied license may be restored to Pending Start: its devices stay too."""
    provisioned = NOW - 3 * 365 * DAY
    waiting = provisioned_license(world, world.shop, provisioned)
    denied = provisioned_license(world, world.hotel, provisioned)
    with time_machine.travel(provisioned, tick=False), transaction.atomic():
        denied = lifecycle.deny(world.dist_admin, denied.pk, reason="unpaid")
    assert (waiting.status, denied.status) == (
        LicenseStatus.PENDING_START,
        LicenseStatus.ACCESS_DENIED,
    )
    for n in range(4):
        device(waiting, n, provisioned + n * DAY)
        device(denied, n, provisioned + n * DAY)
    enforce()
    assert PendingDevice.objects.count() == 8
    # three years on, the fifth device still starts the license: the four counted
    seen = {"location": str(world.shop.pk), "device": "AA:BB:CC:DD:EE:05"}
    intake.ingest([{**seen, "seen_at": NOW.isoformat()}], NOW)
    waiting.refresh_from_db()
    assert waiting.status == LicenseStatus.IN_USE


# --- the intake's idempotency keys -------------------------------------------------------


def intake_key(world, key: str, created: dt.datetime) -> IntakeKey:
    return IntakeKey.objects.create(
        user=world.gateway, key=key, body_hash="0" * 64, answer="{}", created=created
    )


def test_idempotency_keys_past_their_window_go(world):
    intake_key(world, "old", NOW - 24 * 60 * 60 * dt.timedelta(seconds=1))
    intake_key(world, "young", NOW - 23 * 60 * dt.timedelta(minutes=1))
    assert enforce() == {"idempotency keys": 1}
    assert list(IntakeKey.objects.values_list("key", flat=True)) == ["young"]


def test_a_longer_window_keeps_them_longer(world, settings):
    settings.RETENTION_IDEMPOTENCY_HOURS = 48
    intake_key(world, "a day", NOW - 25 * dt.timedelta(hours=1))
    assert enforce() == {}
    assert IntakeKey.objects.count() == 1


# --- the data plane's change log ---------------------------------------------------------


def test_change_rows_older_than_an_hour_go_in_the_databases_time(world):
    Change.objects.all().delete()
    Change.objects.create(location_id=world.shop.pk, at=dt.datetime(2000, 1, 1, tzinfo=UTC))
    Room.objects.create(location=world.hotel, number="new")  # a row of the database's now
    retention.enforce()  # the clock is the database's, not ours
    assert [c.location_id for c in Change.objects.all()] == [world.hotel.pk]


# --- notices, deliveries, attempts -------------------------------------------------------


def decide_the_cycle(world):
    """A license in use whose cycle (END) ran: six notices decided, their deliveries
    sent (e-mail: one attempt each; inbox: none), the license cut off."""
    license = make_in_use(world)
    for day in DUE_DAYS.values():
        with time_machine.travel(local_midnight(day), tick=False):
            worker.run_pass()
    license.refresh_from_db()
    assert license.status == LicenseStatus.CONTRACT_FINALIZED
    assert not Notice.objects.filter(license=license, state=NoticeState.SCHEDULED).exists()
    return license


def test_notices_their_deliveries_and_attempts_go_a_year_after_the_decision(world):
    license = decide_the_cycle(world)
    notices = Notice.objects.filter(license=license)
    deliveries = Delivery.objects.filter(notice__license=license)
    last = deliveries.filter(notice__number=6).count()
    assert notices.count() == 6 and last > 1 and deliveries.count() == 6 * last
    assert Attempt.objects.filter(delivery__notice__number=6).exists()
    last_decided = local_midnight(DUE_DAYS[6])
    deleted = enforce(last_decided + 365 * DAY)  # 365 days after notice 6: it stays
    assert (deleted["deliveries"], deleted["notices"]) == (5 * last, 5)
    assert list(notices.values_list("number", flat=True)) == [6]
    assert not Attempt.objects.exclude(delivery__notice__number=6).exists()
    deleted = enforce(last_decided + 365 * DAY + dt.timedelta(seconds=1))
    assert (deleted["deliveries"], deleted["notices"]) == (last, 1)
    assert (notices.count(), deliveries.count(), Attempt.objects.count()) == (0, 0, 0)


def test_a_deleted_notice_is_not_written_or_sent_again(world):
    """A cycle's notices are written when the license gets an end date, never for the
    end date of notices already decided: the notifier finds nothing to do."""
    license = decide_the_cycle(world)
    later = local_midnight(DUE_DAYS[6]) + 400 * DAY
    enforce(later)
    assert not Notice.objects.exists()
    with time_machine.travel(later, tick=False):
        result = worker.run_pass()
    assert not result.did_something
    assert not Notice.objects.exists() and not Delivery.objects.exists()
    # a renewal starts a new cycle, of its new end date only
    with time_machine.travel(later, tick=False), transaction.atomic():
        license = lifecycle.renew(world.dist_admin, license.pk, years=1)
    assert license.end_date > END
    assert set(Notice.objects.values_list("end_date", "state")) == {
        (license.end_date, NoticeState.SCHEDULED)
    }


def test_scheduled_notices_and_pending_deliveries_stay(world):
    decided = decide_the_cycle(world)
    running = make_in_use(world, location=world.shop, years=5)  # its cycle is years away
    stuck = Delivery.objects.filter(notice__license=decided, channel="email").first()
    Delivery.objects.filter(pk=stuck.pk).update(
        state=DeliveryState.PENDING, next_attempt_at=NOW + DAY
    )
    enforce()
    assert list(Delivery.objects.values_list("pk", flat=True)) == [stuck.pk]
    assert Notice.objects.filter(license=decided).get() == stuck.notice  # its notice stays
    scheduled = Notice.objects.filter(license=running, state=NoticeState.SCHEDULED)
    assert scheduled.count() == 6


# --- the audit log -----------------------------------------------------------------------


def entry_at(world, at: dt.datetime, label: str) -> AuditEntry:
    with time_machine.travel(at, tick=False):
        return audit.record(Kind.LOGIN_FAILED, obj=None, tenant=world.org, label=label)


def test_audit_entries_older_than_the_retention_go(world):
    horizon = NOW - 730 * DAY  # RETENTION_AUDIT_DAYS
    entry_at(world, horizon - 100 * DAY, "ancient")
    entry_at(world, horizon - dt.timedelta(seconds=1), "just past")
    entry_at(world, horizon, "kept")
    entry_at(world, NOW - DAY, "yesterday")
    assert enforce() == {"audit entries": 2}
    labels = AuditEntry.objects.order_by("at").values_list("object_label", flat=True)
    assert list(labels) == ["kept", "yesterday"]


def test_the_log_stays_append_only_for_everything_else(world):
    """The retention's door is no door for anyone else: the ORM refuses as before."""
    entry_at(world, NOW - 1000 * DAY, "old")
    young = entry_at(world, NOW - DAY, "young")
    enforce()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=young.pk).delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().update(object_label="forged")
    with pytest.raises(AppendOnly):
        young.delete()
    assert list(AuditEntry.objects.values_list("object_label", flat=True)) == ["young"]


def ids_in(sql: str) -> int:
    """How many values a statement's ``IN (…)`` names."""
    return len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(","))


def raw(sql: str, *params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgresql_only
@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM audit_auditentry WHERE object_label = 'ancient 2'",
        "UPDATE audit_auditentry SET object_label = 'forged' WHERE object_label = 'ancient 2'",
        "DELETE FROM audit_auditentry",
    ],
)
def test_postgresql_still_refuses_an_ordinary_change_after_a_retention(world, sql):
    """The horizon is declared for the retention's own DELETE only: after it, in the same
    transaction as in the next, a plain DELETE or UPDATE is refused, even of an entry
    older than that horizon (here one the batch of one left)."""
    entry_at(world, NOW - 1000 * DAY, "ancient 1")
    entry_at(world, NOW - 950 * DAY, "ancient 2")
    entry_at(world, NOW - DAY, "young")
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        assert audit.expire(NOW - 900 * DAY, 1) == 1
        with pytest.raises(DatabaseError, match="append-only"):
            raw(sql)
    with pytest.raises(DatabaseError, match="append-only"):
        raw(sql)
    labels = AuditEntry.objects.order_by("at").values_list("object_label", flat=True)
    assert list(labels) == ["ancient 2", "young"]


@postgresql_only
def test_postgresql_refuses_what_the_horizon_does_not_cover(world):
    """Even with a horizon declared, an UPDATE is refused, and a DELETE that reaches one
    entry at or after the horizon is refused as a whole."""
    entry_at(world, NOW - 1000 * DAY, "old")
    entry_at(world, NOW - DAY, "young")
    horizon = (NOW - 900 * DAY).isoformat()
    declare = "SELECT set_config('wlm.audit_expire_before', %s, true)"
    for sql in (
        "UPDATE audit_auditentry SET object_label = 'forged' WHERE object_label = 'old'",
        "DELETE FROM audit_auditentry",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            raw(f"{declare}; {sql}", horizon)
    assert AuditEntry.objects.count() == 2
    raw(f"{declare}; DELETE FROM audit_auditentry WHERE object_label = 'old'", horizon)
    assert list(AuditEntry.objects.values_list("object_label", flat=True)) == ["young"]


# --- bulk jobs and sessions --------------------------------------------------------------


def bulk_job(world, license, state: str, finished: dt.datetime | None) -> BulkJob:
    job = BulkJob.objects.create(
        owner=world.dist_admin,
        action=BulkAction.DENY,
        reason="unpaid",
        state=state,
        total=1,
        created=NOW - 200 * DAY,
        finished=finished,
    )
    BulkJobItem.objects.create(job=job, license=license)
    return job


def test_finished_bulk_jobs_go_with_their_items_after_90_days(world):
    license = make_in_use(world)
    old = bulk_job(world, license, BulkJobState.FINISHED, NOW - 91 * DAY)
    recent = bulk_job(world, license, BulkJobState.FINISHED, NOW - 89 * DAY)
    running = bulk_job(world, license, BulkJobState.RUNNING, None)
    deleted = enforce()
    assert (deleted["bulk job items"], deleted["bulk jobs"]) == (1, 1)
    assert set(BulkJob.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not BulkJobItem.objects.filter(job_id=old.pk).exists()
    assert BulkJobItem.objects.count() == 2


def test_expired_sessions_go(world):
    for key, expires in (("expired", NOW - DAY), ("live", NOW + DAY)):
        Session.objects.create(session_key=key, session_data="", expire_date=expires)
    assert enforce() == {"expired sessions": 1}
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]


# --- batches -----------------------------------------------------------------------------


def test_each_pass_deletes_bounded_batches_oldest_first(world, settings, caplog):
    settings.RETENTION_BATCH_SIZE = 2
    settings.RETENTION_BATCHES = 2
    for n in range(5):
        entry_at(world, NOW - (1000 - n) * DAY, f"entry {n}")
    with CaptureQueriesContext(connection) as queries, caplog.at_level(logging.WARNING):
        assert enforce() == {"audit entries": 4}
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "audit_')]
    assert len(deletes) == 2  # two batches, each its own statement of two ids
    assert [ids_in(sql) for sql in deletes] == [2, 2]
    assert "audit entries left for the next pass" in caplog.text
    assert list(AuditEntry.objects.values_list("object_label", flat=True)) == ["entry 4"]
    assert enforce() == {"audit entries": 1}  # the rest at the next pass
    assert not AuditEntry.objects.exists()


def test_a_batch_never_holds_more_than_its_size(world, settings):
    """Every kind's DELETE names at most RETENTION_BATCH_SIZE rows (the deliveries' attempts:
    at most NOTICE_MAX_ATTEMPTS for each)."""
    settings.RETENTION_BATCH_SIZE = 3
    settings.RETENTION_BATCHES = 1
    for n in range(5):
        LocationDay.objects.create(location=world.hotel, day=dt.date(2020, 1, 1 + n), events=1)
        intake_key(world, f"key {n}", NOW - 30 * DAY)
        entry_at(world, NOW - 1000 * DAY, f"entry {n}")
    assert enforce() == {"connection days": 3, "idempotency keys": 3, "audit entries": 3}
    assert LocationDay.objects.count() == IntakeKey.objects.count() == AuditEntry.objects.count()
    # the oldest went first
    assert min(LocationDay.objects.values_list("day", flat=True)) == dt.date(2020, 1, 4)


def test_a_stop_signal_ends_the_work_between_batches(world, settings):
    settings.RETENTION_BATCH_SIZE = 1
    for n in range(3):
        entry_at(world, NOW - 1000 * DAY, f"entry {n}")
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 7  # the 6th call is the audit log's first batch, the 7th its second

    assert enforce(stop=stop) == {"audit entries": 1}
    assert AuditEntry.objects.count() == 2


# --- the notifier ------------------------------------------------------------------------


def test_the_notifier_enforces_it_after_each_pass_and_says_so(world):
    entry_at(world, NOW - 1000 * DAY, "old")
    LocationDay.objects.create(location=world.hotel, day=dt.date(2020, 1, 1), events=1)
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("notifier", "--once", stdout=out)
    assert "retention: deleted connection days 1, audit entries 1" in out.getvalue()
    assert not AuditEntry.objects.exists() and not LocationDay.objects.exists()
