"""Races are decided by the database: parallel writers at the last free slot.

PostgreSQL only (row locks): SQLite's test database is in memory, shared by threads,
where writers fail with "table is locked" instead of queueing as they do on a file.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from wlm.conftest import token_for
from wlm.lib.problems import Conflict
from wlm.licenses import current, lifecycle
from wlm.licenses import services as license_services
from wlm.licenses.models import Assignment, CurrentLicense, License, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations import services
from wlm.locations.models import Room
from wlm.tests.races import post_json, race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
    pytest.mark.postgres_only,
]
WORKERS = 8


def add_room(user, location, number):
    return services.add_room(user, location, number=number)


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
    current.refresh([second_hotel])
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


def test_lowering_the_limit_races_additions_and_usage_never_passes_it(world):
    license = make_license(world, LicenseStatus.IN_USE)  # rooms, limit 10; 1 room in use
    Room.objects.bulk_create(Room(location=world.hotel, number=f"3{i:02d}") for i in range(8))

    def lower():
        return license_services.upgrade_license(world.dist_admin, license, rooms=9)

    def act(index):
        return lower() if index == 0 else add_room(world.org_admin, world.hotel, f"7{index:02d}")

    outcomes = race(act, [(i,) for i in range(WORKERS)])
    license.refresh_from_db()
    in_use = Room.objects.filter(location=world.hotel).count()
    assert in_use <= license.limit, (in_use, license.limit, outcomes)
    lowered = isinstance(outcomes[0], License)
    added = sum(isinstance(o, Room) for o in outcomes[1:])
    # either the limit went down to the 9 in use and every addition was refused,
    # or one addition took the last slot and lowering to 9 was refused
    assert (lowered, added, license.limit, in_use) in [(True, 0, 9, 9), (False, 1, 10, 10)]
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, License | Room))


def test_parallel_http_requests_at_the_last_free_slot_exactly_one_wins(world, live_server):
    """The same race through the HTTP stack: one 201, the others 409 with a clear detail."""
    license = make_license(world, LicenseStatus.IN_USE)
    Room.objects.bulk_create(Room(location=world.hotel, number=f"3{i:02d}") for i in range(8))
    token = token_for(world.org_admin)
    url = f"{live_server.url}/api/v1/locations/{world.hotel.pk}/rooms/"

    def post(number):
        return post_json(url, token, {"number": number})

    outcomes = race(post, [(f"6{i:02d}",) for i in range(WORKERS)])
    statuses = sorted(status for status, _body in outcomes)
    assert statuses == [201] + [409] * (WORKERS - 1), outcomes
    refused = [body for status, body in outcomes if status == 409]
    assert all("allows 10 rooms; 11 would be in use" in body["detail"] for body in refused)
    assert Room.objects.filter(location=world.hotel).count() == license.limit


def wait_for_a_lock_wait(timeout: float = 30.0) -> None:
    """Until another session waits for a row lock (polls PostgreSQL's pg_locks)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no session waited for a lock")


def test_two_changes_at_one_location_store_the_license_of_both(world):
    """Two finalized licenses of the hotel are renewed at once. Both in use, the rule
    picks the later assignment (``later``); ``earlier``'s renewal, waiting for the
    stored row's lock, computes after ``later``'s commit and stores ``later`` too.
    (Computed in the statement that waited, it would read the snapshot from before
    that commit and store ``earlier``.)"""
    earlier = make_license(world, LicenseStatus.CONTRACT_FINALIZED, start=dt.date(2024, 1, 15))
    later = make_license(world, LicenseStatus.CONTRACT_FINALIZED, start=dt.date(2024, 2, 15))
    assert CurrentLicense.objects.get(location=world.hotel).license_id == later.pk
    renewed, commit = threading.Event(), threading.Event()

    def renew_later_and_hold():
        try:
            with transaction.atomic():
                lifecycle.renew(world.staff, later.pk, 1)
                renewed.set()
                commit.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=renew_later_and_hold)
    holder.start()
    assert renewed.wait(timeout=30)
    outcomes = []

    def renew_earlier():
        try:
            outcomes.append(lifecycle.renew(world.staff, earlier.pk, 1))
        finally:
            connection.close()

    waiter = threading.Thread(target=renew_earlier)
    waiter.start()
    wait_for_a_lock_wait()  # the stored row, locked by the holder's refresh
    commit.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert [license.pk for license in outcomes] == [earlier.pk]
    License.objects.filter(status=LicenseStatus.IN_USE).get(pk=earlier.pk)
    License.objects.filter(status=LicenseStatus.IN_USE).get(pk=later.pk)
    assert CurrentLicense.objects.get(location=world.hotel).license_id == later.pk


def lock_wait_or_end(thread: threading.Thread, timeout: float = 30.0) -> bool:
    """True once another session waits for a row lock; False if ``thread`` ended first."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return True
            if not thread.is_alive():
                return False
            time.sleep(0.01)
    raise AssertionError("neither a lock wait nor the end of the thread")


def finalized_at_its_limit(world):
    """The shop's access-point license, finalized, 2 allowed and 2 in use."""
    from wlm.licenses.tests.test_licenses_api import add_aps, aps_license

    license = aps_license(
        world, LicenseStatus.CONTRACT_FINALIZED, limit=2, start=dt.date(2024, 1, 1)
    )
    add_aps(world.shop, 2)
    return license


def hold(act, done: threading.Event, release: threading.Event, outcomes: list):
    """Run ``act`` in a transaction and keep it open (its locks held) until ``release``."""
    try:
        with transaction.atomic():
            outcomes.append(act())
            done.set()
            release.wait(timeout=30)
    except Exception as error:
        outcomes.append(error)
        done.set()
    finally:
        connection.close()


def in_thread(act, outcomes: list) -> threading.Thread:
    def run():
        try:
            outcomes.append(act())
        except Exception as error:
            outcomes.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_addition_during_a_renewal_waits_for_it_and_is_refused(world):
    """A finalized license limits nothing, but its lock is taken by an addition at its
    location all the same: one added while the renewal is uncommitted waits for it, then
    counts against the renewed license."""
    license = finalized_at_its_limit(world)
    renewed, release, held = threading.Event(), threading.Event(), []
    holder = threading.Thread(
        target=hold,
        args=(lambda: lifecycle.renew(world.dist_admin, license.pk, 1), renewed, release, held),
    )
    holder.start()
    assert renewed.wait(timeout=30)
    added = []
    adder = in_thread(
        lambda: services.add_access_point(world.org_admin, world.shop, mac="0a:00:00:00:09:01"),
        added,
    )
    waited = lock_wait_or_end(adder)
    release.set()
    holder.join(timeout=30)
    adder.join(timeout=30)
    assert waited, added  # (without the lock it was simply added, a third of two)
    assert isinstance(held[0], License) and isinstance(added[0], Conflict), (held, added)
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
    assert world.shop.access_points.count() == 2


def test_a_renewal_during_an_addition_waits_for_it_and_counts_it(world):
    license = finalized_at_its_limit(world)
    added, release, held = threading.Event(), threading.Event(), []
    holder = threading.Thread(
        target=hold,
        args=(
            lambda: services.add_access_point(world.org_admin, world.shop, mac="0a:00:00:00:09:02"),
            added,
            release,
            held,
        ),
    )
    holder.start()
    assert added.wait(timeout=30)
    renewed = []
    renewer = in_thread(lambda: lifecycle.renew(world.dist_admin, license.pk, 1), renewed)
    waited = lock_wait_or_end(renewer)
    release.set()
    holder.join(timeout=30)
    renewer.join(timeout=30)
    assert waited, renewed  # (without the lock it counted 2 and renewed: 3 in use of 2)
    assert isinstance(renewed[0], Conflict), renewed
    assert "The locations hold 3 access points; this license allows 2." in str(renewed[0].detail)
    license.refresh_from_db()
    assert license.status == LicenseStatus.CONTRACT_FINALIZED
    assert world.shop.access_points.count() == 3
