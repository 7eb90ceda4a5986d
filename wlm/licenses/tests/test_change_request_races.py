"""Requests for an existing license under concurrency, decided by the database: one
pending renewal per license however many ask at once (the partial unique index), and an
approval that races the customer's additions never leaves more in use than the limit.

PostgreSQL only (row locks), as wlm/licenses/tests/test_races.py.
"""

import pytest
from django.db import connection

from wlm.lib.problems import Conflict
from wlm.licenses import services
from wlm.licenses.models import License, LicenseRequest, LicenseStatus, RequestState
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations import services as locations
from wlm.locations.models import Room
from wlm.tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
    pytest.mark.postgres_only,
]
WORKERS = 6


def test_parallel_renewal_requests_store_one(world):
    """Every asker passes the check before any has stored its request: the index
    decides, and the others get the same 409 as a request made after it."""
    license = make_license(world, LicenseStatus.IN_USE)
    askers = [world.partner_admin, world.org_admin] * (WORKERS // 2)
    outcomes = race(services.request_renewal, [(user, license, 1) for user in askers])
    stored = [o for o in outcomes if isinstance(o, LicenseRequest)]
    assert len(stored) == 1, outcomes
    refused = [o for o in outcomes if o not in stored]
    assert all(isinstance(o, Conflict) for o in refused), outcomes
    assert all("already requested" in str(o.detail) for o in refused), outcomes
    assert LicenseRequest.objects.filter(license=license).count() == 1


def test_an_approval_racing_additions_never_passes_the_limit(world):
    """An upgrade down to 5 rooms (4 in use when asked) is approved while the hotel adds
    two rooms: the license's lock orders them, and the approval checks the rooms in use
    then (``The license no longer allows…``) or the additions check the new limit."""
    license = make_license(world, LicenseStatus.IN_USE)  # rooms, limit 10; 1 room in use
    Room.objects.bulk_create(Room(location=world.hotel, number=f"3{i:02d}") for i in range(3))
    request = services.request_upgrade(world.partner_admin, license, rooms=5)

    def act(index):
        if index == 0:
            return services.approve_request(world.dist_admin, request.pk)
        return locations.add_room(world.org_admin, world.hotel, number=f"7{index:02d}")

    outcomes = race(act, [(i,) for i in range(3)])
    license.refresh_from_db()
    request.refresh_from_db()
    in_use = Room.objects.filter(location=world.hotel).count()
    assert in_use <= license.limit, (in_use, license.limit, outcomes)
    approved = isinstance(outcomes[0], License)
    added = sum(isinstance(o, Room) for o in outcomes[1:])
    if approved:  # first, or after one addition: the other is refused at the new limit
        assert (license.limit, in_use, request.state) == (5, 5, RequestState.APPROVED)
        assert added == 1
    else:  # after both additions: 6 in use, the request waits to be rejected
        assert str(outcomes[0].detail).startswith("The license no longer allows this request")
        assert (license.limit, in_use, added, request.state) == (10, 6, 2, RequestState.PENDING)
    assert all(isinstance(o, License | Room | Conflict) for o in outcomes), outcomes
