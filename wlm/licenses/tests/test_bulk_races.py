"""Several workers on one bulk job (PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``):
each takes items no other holds, every license is changed exactly once, and the job is
finished by whichever commits last. Workers are threads with their own connections,
released together (wlm/tests/races.py)."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection

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


def test_two_workers_claim_disjoint_items_and_change_each_license_once(world, monkeypatch):
    licenses = many(world, LICENSES)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
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
            # each worker holds its first item until the other holds one too: the two
            # claims are made at the same time, so SKIP LOCKED has to tell them apart
            both_working.wait()
        return renew(user, pk, job)

    monkeypatch.setitem(bulk.APPLY, "renew", renew_and_note)
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
