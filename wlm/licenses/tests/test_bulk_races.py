"""Several workers on one bulk job (PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``):
each takes items no other holds, every license is changed exactly once, and the job is
finished by whichever commits last. Workers are threads with their own connections,
released together (wlm/tests/races.py)."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import OperationalError, connection

from wlm.licenses import bulk
from wlm.licenses.models import BulkJobItem, BulkJobState, BulkOutcome, EventKind, LicenseEvent
from wlm.licenses.tests.test_bulk import NOW, many
from wlm.tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED: PostgreSQL"),
    pytest.mark.postgres_only,
]
LICENSES = 40


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def renewals_noted_by_thread(monkeypatch) -> dict[str, list[int]]:
    """The licenses each worker's thread renews, by thread name (filled as they work).
    Each worker holds its first item until another holds one too: the two claims are
    made at the same time, so SKIP LOCKED has to tell them apart, and both work."""
    renew = bulk.APPLY["renew"]
    taken: dict[str, list[int]] = {}
    lock = threading.Lock()
    both_working = threading.Barrier(2, timeout=30)

    def renew_and_note(user, pk, job):
        name = threading.current_thread().name
        with lock:
            first = name not in taken
            taken.setdefault(name, []).append(pk)
        if first:
            both_working.wait()
        return renew(user, pk, job)

    monkeypatch.setitem(bulk.APPLY, "renew", renew_and_note)
    return taken


def test_two_workers_claim_disjoint_items_and_change_each_license_once(world, monkeypatch):
    licenses = many(world, LICENSES)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    taken = renewals_noted_by_thread(monkeypatch)
    outcomes = race(bulk.work, [(), ()])
    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    assert sum(outcomes) == LICENSES
    first, second = taken.values()
    assert first and second  # both worked
    assert not set(first) & set(second)  # on different licenses
    assert sorted(first + second) == sorted(lic.pk for lic in licenses)
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, LICENSES, 0)
    assert not BulkJobItem.objects.exclude(outcome=BulkOutcome.DONE).exists()
    renewed = LicenseEvent.objects.filter(kind=EventKind.RENEWED)
    assert renewed.count() == LICENSES
    assert set(renewed.values_list("license_id", flat=True)) == {lic.pk for lic in licenses}
    assert {lic.end_date for lic in type(licenses[0]).objects.all()} == {dt.date(2029, 1, 15)}


def test_the_notifiers_workers_share_a_job_and_change_each_license_once(world, monkeypatch):
    """``work_together``, as the notifier runs it: this thread and another, each with its
    own connection, both working (each holds its first item until the other holds one),
    every license renewed once, the count of both returned, the job finished."""
    licenses = many(world, LICENSES)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    taken = renewals_noted_by_thread(monkeypatch)
    assert bulk.work_together(lambda: False, seconds=60, count=2) == LICENSES
    first, second = taken.values()
    assert first and second and not set(first) & set(second)
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, LICENSES, 0)
    renewed = LicenseEvent.objects.filter(kind=EventKind.RENEWED)
    assert sorted(renewed.values_list("license_id", flat=True)) == sorted(
        lic.pk for lic in licenses
    )


def test_a_worker_that_fails_is_raised_after_the_others_stop(world, monkeypatch):
    """An error in the other worker (the database gone, say) stops this thread's worker
    after its item and reaches the notifier; the item the failing worker held stays
    pending (rolled back), and no license is renewed twice."""
    licenses = many(world, 6)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    renew = bulk.APPLY["renew"]
    main = threading.current_thread()

    failed = threading.Event()

    def fail_off_the_main_thread(user, pk, job):
        if threading.current_thread() is not main:
            failed.set()
            raise OperationalError("the database went away")
        assert failed.wait(30)  # this thread's first item waits for the other's failure
        return renew(user, pk, job)

    monkeypatch.setitem(bulk.APPLY, "renew", fail_off_the_main_thread)
    with pytest.raises(OperationalError):
        bulk.work_together(lambda: False, seconds=60, count=2)
    job.refresh_from_db()
    pending = BulkJobItem.objects.filter(outcome=BulkOutcome.PENDING).count()
    # this worker stopped after the item it held when the other failed
    assert job.done == 1 and pending == len(licenses) - 1
    renewed = list(
        LicenseEvent.objects.filter(kind=EventKind.RENEWED).values_list("license_id", flat=True)
    )
    assert len(renewed) == len(set(renewed)) == job.done
