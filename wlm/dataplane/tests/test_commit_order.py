"""PostgreSQL commits in any order: a change row with a smaller id may become visible
after one with a larger id. The cache must still see it (wlm.dataplane.cache)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from wlm.dataplane.cache import Entitlements
from wlm.dataplane.models import Change
from wlm.dataplane.tests.test_front import Clock
from wlm.licenses import current
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Room

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="commit order: PostgreSQL"),
    pytest.mark.postgres_only,
]
S = LicenseStatus


def test_a_change_committed_after_a_later_one_is_not_missed(world):
    license = make_license(world, S.IN_USE, start=dt.date(2026, 6, 1))
    clock = Clock()
    cache = Entitlements(monotonic=clock)
    assert cache.facts(world.hotel.pk).status == S.IN_USE

    written, commit, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                License.objects.filter(pk=license.pk).update(status=S.ACCESS_DENIED)
                written.set()
                commit.wait(timeout=30)
        finally:
            connection.close()
            done.set()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert written.wait(timeout=30)
    # a later transaction writes a change row with a larger id, and commits first
    Room.objects.create(location=world.shop, number="7")
    clock.now += 0.25
    assert cache.facts(world.hotel.pk).status == S.IN_USE  # not committed yet
    commit.set()
    assert done.wait(timeout=30)
    writer.join()
    slow_id = Change.objects.filter(license_id=license.pk).order_by("id").last().id
    assert slow_id < Change.objects.filter(location_id=world.shop.pk).order_by("id").last().id
    clock.now += 0.25
    assert cache.facts(world.hotel.pk).status == S.ACCESS_DENIED
    current.refresh_all()  # the raw update: its stored copies, past the services
