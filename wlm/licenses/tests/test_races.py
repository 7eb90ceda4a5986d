"""Races are decided by the database: parallel writers at the last free slot.

PostgreSQL only (row locks): SQLite's test database is in memory, shared by threads,
where writers fail with "table is locked" instead of queueing as they do on a file.
"""

import threading

import pytest
from django.db import close_old_connections, connection

from wlm.lib.problems import Conflict
from wlm.licenses import lifecycle
from wlm.licenses.models import Assignment, License, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations import services
from wlm.locations.models import Room

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
    pytest.mark.postgres_only,
]
WORKERS = 8


def add_room(user, location, number):
    return services.add_room(user, location, number=number)


def race(target, arguments):
    """Run ``target(*args)`` for each args at once; the outcomes, in order."""
    barrier = threading.Barrier(len(arguments))
    outcomes = [None] * len(arguments)

    def run(index, args):
        try:
            barrier.wait()
            outcomes[index] = target(*args)
        except Exception as error:
            outcomes[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_parallel_rooms_at_the_last_free_slot_exactly_one_wins(world):
    license = make_license(world, LicenseStatus.IN_USE)  # rooms, limit 10; 1 room in use
    Room.objects.bulk_create(Room(location=world.hotel, number=f"3{i:02d}") for i in range(8))
    outcomes = race(
        add_room,
        [(world.org_admin, world.hotel, f"9{i:02d}") for i in range(WORKERS)],
    )
    wins = [o for o in outcomes if isinstance(o, Room)]
    assert len(wins) == 1, outcomes
    assert all(isinstance(o, Conflict) for o in outcomes if o not in wins), outcomes
    assert Room.objects.filter(location=world.hotel).count() == license.limit


def test_parallel_rooms_over_two_locations_of_one_license(world):
    license = make_license(world, LicenseStatus.IN_USE)
    second_hotel = world.shop
    type(second_hotel).objects.filter(pk=second_hotel.pk).update(sector="hospitality")
    second_hotel.refresh_from_db()
    Assignment.objects.create(license=license, location=second_hotel)
    Room.objects.bulk_create(Room(location=world.hotel, number=f"3{i:02d}") for i in range(8))
    arguments = [
        (world.org_admin, world.hotel if i % 2 else second_hotel, f"8{i:02d}")
        for i in range(WORKERS)
    ]
    outcomes = race(add_room, arguments)
    assert sum(isinstance(o, Room) for o in outcomes) == 1, outcomes
    assert Room.objects.filter(location__in=[world.hotel, second_hotel]).count() == 10


def test_one_key_activated_once(world):
    license = make_license(world, LicenseStatus.PENDING_PROVISION)
    outcomes = race(lifecycle.provision, [(world.org_admin, world.hotel, license.key)] * WORKERS)
    assert sum(isinstance(o, License) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, License | Conflict) for o in outcomes), outcomes
    assert Assignment.objects.filter(license=license).count() == 1
    assert license.events.filter(kind="provisioned").count() == 1
