"""Exactly one start: gateways posting at the same moment (PostgreSQL, row locks)."""

import datetime as dt

import pytest
from django.db import connection

from wlm.connections.models import PendingDevice
from wlm.connections.services import ingest
from wlm.licenses import lifecycle, services
from wlm.licenses.models import EventKind, LicenseStatus
from wlm.licenses.tests.test_races import WORKERS
from wlm.tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
    pytest.mark.postgres_only,
]


def test_parallel_batches_start_a_license_exactly_once(world):
    terms = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="annual", aps=5
    )
    license = services.create_license(world.dist_admin, terms)
    lifecycle.provision(world.org_admin, world.shop, license.key)
    moment = dt.datetime.now(dt.UTC)  # after provisioning: the events count
    # every gateway reports 5 distinct devices (overlapping): each batch alone reaches 5
    batches = [
        [
            {
                "location": str(world.shop.pk),
                "device": f"02:00:00:00:{worker:02x}:{n:02x}",
                "seen_at": (moment + dt.timedelta(seconds=1 + n + worker)).isoformat(),
            }
            for n in range(5)
        ]
        for worker in range(WORKERS)
    ]
    outcomes = race(ingest, [(batch,) for batch in batches])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    started = [o.started for o in outcomes]
    assert sum(len(ids) for ids in started) == 1, started
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
    assert license.events.filter(kind=EventKind.STARTED).count() == 1
    assert not PendingDevice.objects.filter(license=license).exists()
