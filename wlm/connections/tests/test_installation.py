"""Installation mode and installer devices (docs/connections.md): what an installer's
tests do not start.

A location in installation records its connections (the daily aggregate) but none of them
counts toward its license's start, nor ever will; once the installation ends (its end
date, or switched off) counting begins from that moment. A partner's installer devices
never count at its organizations' locations. The same through the intake, RADIUS
accounting and the start progress shown on the pages.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from wlm.conftest import provisioned_license
from wlm.connections import accounting, installers
from wlm.connections import services as intake
from wlm.connections.models import InstallerDevice, LocationDay, PendingDevice
from wlm.connections.progress import start_progress
from wlm.licenses.models import EventKind, License, LicenseStatus
from wlm.locations import services as locations
from wlm.locations.models import NEVER, Location, counting_starts, in_installation

pytestmark = pytest.mark.django_db

UTC = dt.UTC
URL = "/api/v1/connections/"
PROVISIONED = dt.datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
SWITCHED_ON = dt.datetime(2027, 6, 2, 8, 0, tzinfo=UTC)
ENDS = dt.datetime(2027, 6, 9, 22, 0, tzinfo=UTC)  # 10:00 on the 10th in Auckland (the shop)


def lab(n: int) -> str:
    return f"02:1A:B0:00:00:{n:02X}"


def guest(n: int) -> str:
    return f"AA:BB:CC:DD:EE:{n:02X}"


def event(location, device, seen_at) -> dict:
    return {"location": str(location.pk), "device": device, "seen_at": seen_at.isoformat()}


def ok(api, world, events, *, at) -> dict:
    with time_machine.travel(at, tick=False):
        response = api(world.gateway).post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rejected"] == []
    return body


def switch_on(world, location, *, at=SWITCHED_ON, until=ENDS) -> Location:
    with time_machine.travel(at, tick=False):
        return locations.start_installation(world.partner_admin, location, until=until)


def switch_off(world, location, *, at) -> Location:
    with time_machine.travel(at, tick=False):
        return locations.end_installation(world.org_admin, location)


def status(license) -> str:
    return License.objects.values_list("status", flat=True).get(pk=license.pk)


def aggregate(location) -> int:
    rows = LocationDay.objects.filter(location=location)
    return rows.aggregate(total=Sum("events"))["total"] or 0


def progress(license) -> int:
    return start_progress([license.pk])[license.pk].seen


@pytest.fixture
def pending(world):
    """An automatic-start license for the shop (Pacific/Auckland), provisioned before
    the installer comes."""
    license = provisioned_license(world, world.shop, PROVISIONED)
    assert license.status == LicenseStatus.PENDING_START
    return license


# --- The rule, as a pure function of the location's fields and a moment ------------------


def test_in_installation_and_counting_starts_are_pure_functions_of_the_fields():
    t = SWITCHED_ON
    assert not in_installation(None, None, t)
    assert in_installation(t, None, t) and in_installation(t, None, t + dt.timedelta(days=400))
    assert not in_installation(t, None, t - dt.timedelta(seconds=1))
    assert in_installation(t, ENDS, ENDS - dt.timedelta(microseconds=1))
    assert not in_installation(t, ENDS, ENDS)
    # counting starts at the end of the installation; never while an open one runs
    assert counting_starts(None, None, None) is None
    assert counting_starts(t, ENDS, None) == ENDS
    assert counting_starts(t, None, None) is NEVER
    assert counting_starts(None, None, ENDS) == ENDS  # switched off at ENDS
    assert counting_starts(t, ENDS, t - dt.timedelta(days=9)) == ENDS  # on again: its end


def test_the_sql_rule_agrees_with_the_python_rule(world, pending):
    """``services.counting`` (SQL, where a start is decided) and ``counting_starts`` (the
    intake's reads) answer alike for every kind of location and sighting."""
    moments = [SWITCHED_ON - dt.timedelta(hours=1), SWITCHED_ON, ENDS, ENDS + dt.timedelta(hours=1)]
    fields = [
        (None, None, None),
        (SWITCHED_ON, ENDS, None),
        (SWITCHED_ON, None, None),
        (None, None, ENDS),
        (SWITCHED_ON, ENDS, SWITCHED_ON - dt.timedelta(days=1)),
    ]
    cases = list(itertools.product(fields, moments))
    rows = []
    for n, ((since, until, counting_since), seen) in enumerate(cases):
        Location.objects.filter(pk=world.shop.pk).update(
            installation_since=since, installation_until=until, counting_since=counting_since
        )
        row = PendingDevice.objects.create(
            license=pending, device=f"d{n}", location=world.shop, first_seen=seen
        )
        counted = intake.counting(PendingDevice.objects.filter(pk=row.pk)).exists()
        starts = counting_starts(since, until, counting_since)
        rows.append((counted, starts is None or seen >= starts))
        row.delete()
    assert [sql for sql, _python in rows] == [python for _sql, python in rows]
    assert {sql for sql, _python in rows} == {True, False}


# --- The intake -------------------------------------------------------------------------


def test_six_lab_devices_during_an_open_installation_do_not_start_the_license(world, api, pending):
    switch_on(world, world.shop, until=None)
    seen = SWITCHED_ON + dt.timedelta(hours=2)
    body = ok(api, world, [event(world.shop, lab(n), seen) for n in range(6)], at=seen)
    assert body == {"accepted": 6, "duplicates": 0, "rejected": [], "started": []}
    assert status(pending) == LicenseStatus.PENDING_START
    assert aggregate(world.shop) == 6  # recorded
    assert not PendingDevice.objects.exists()  # and not counted
    assert progress(pending) == 0


def test_lab_devices_then_guests_start_on_the_fifth_guests_local_date(world, api, pending):
    """Five lab devices during installation, then (its end date passed) two real guests:
    no start; three more guests, five in all: the license starts on the local date of
    the fifth guest."""
    switch_on(world, world.shop)
    testing = SWITCHED_ON + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, lab(n), testing) for n in range(5)], at=testing)
    assert status(pending) == LicenseStatus.PENDING_START
    opened = ENDS + dt.timedelta(hours=1)
    body = ok(
        api,
        world,
        [event(world.shop, guest(n), opened + dt.timedelta(minutes=n)) for n in range(2)],
        at=opened + dt.timedelta(minutes=2),
    )
    assert body["started"] == []
    assert progress(pending) == 2
    # the fifth guest at 11:30 UTC on the 10th: 23:30 on the 10th in Auckland
    fifth = dt.datetime(2027, 6, 10, 11, 30, tzinfo=UTC)
    body = ok(
        api,
        world,
        [event(world.shop, guest(n), fifth - dt.timedelta(minutes=4 - n)) for n in range(2, 5)],
        at=fifth,
    )
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.IN_USE
    assert pending.start_date == dt.date(2027, 6, 10)
    evidence = pending.events.get(kind=EventKind.STARTED).after["devices"]
    assert [row["device"] for row in evidence] == [intake.device_key(guest(n)) for n in range(5)]
    assert aggregate(world.shop) == 10  # every event recorded


def test_a_lab_device_seen_again_after_the_installation_counts_from_then(world, api, pending):
    switch_on(world, world.shop)
    testing = SWITCHED_ON + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, lab(n), testing) for n in range(5)], at=testing)
    after = ENDS + dt.timedelta(minutes=5)
    body = ok(api, world, [event(world.shop, lab(n), after) for n in range(4)], at=after)
    assert body["started"] == [] and progress(pending) == 4
    rows = PendingDevice.objects.filter(license=pending)
    assert set(rows.values_list("first_seen", flat=True)) == {after}  # not the lab's time


def test_events_dated_during_the_installation_never_count_when_they_arrive_late(
    world, api, pending
):
    switch_on(world, world.shop)
    testing = SWITCHED_ON + dt.timedelta(days=2)
    late = ENDS + dt.timedelta(days=3)  # a gateway's buffer, sent after the end
    body = ok(api, world, [event(world.shop, lab(n), testing) for n in range(6)], at=late)
    assert body["started"] == [] and body["accepted"] == 6
    assert progress(pending) == 0 and not PendingDevice.objects.exists()


def test_switching_off_lets_counting_begin_at_that_moment(world, api, pending):
    switch_on(world, world.shop, until=None)
    off = SWITCHED_ON + dt.timedelta(days=40)  # open-ended: longer than 30 days is fine
    location = switch_off(world, world.shop, at=off)
    assert location.counting_since == off and location.installation_since is None
    before, after = off - dt.timedelta(seconds=1), off + dt.timedelta(minutes=1)
    later = off + dt.timedelta(minutes=2)
    body = ok(
        api,
        world,
        [event(world.shop, lab(n), before) for n in range(5)]
        + [event(world.shop, guest(n), after) for n in range(4)],
        at=later,
    )
    assert body["started"] == [] and progress(pending) == 4
    body = ok(api, world, [event(world.shop, guest(9), later)], at=later)
    assert body["started"] == [pending.pk]


def test_devices_counted_before_the_installation_was_switched_on_stop_counting(world, api, pending):
    """An installer who forgot installation mode: the lab devices the intake counted
    before it was switched on no longer count (nothing seen there before its end does),
    and a device seen again after the end counts from its new sighting."""
    early = SWITCHED_ON - dt.timedelta(hours=1)
    ok(api, world, [event(world.shop, lab(n), early) for n in range(4)], at=early)
    assert progress(pending) == 4
    switch_on(world, world.shop)
    assert progress(pending) == 0
    testing = SWITCHED_ON + dt.timedelta(hours=1)
    ok(api, world, [event(world.shop, lab(n), testing) for n in range(4, 8)], at=testing)
    assert status(pending) == LicenseStatus.PENDING_START
    after = ENDS + dt.timedelta(hours=1)
    body = ok(api, world, [event(world.shop, lab(0), after)], at=after)
    assert body == {"accepted": 1, "duplicates": 0, "rejected": [], "started": []}
    row = PendingDevice.objects.get(license=pending, device=intake.device_key(lab(0)))
    assert row.first_seen == after  # the stale row made way for the new sighting
    assert progress(pending) == 1
    body = ok(api, world, [event(world.shop, guest(n), after) for n in range(4)], at=after)
    assert body["started"] == [pending.pk]


def test_installation_at_one_location_leaves_the_others_counting(world, api, pending):
    """A license over two locations: the hotel in installation, the shop open."""
    from wlm.licenses import lifecycle

    with time_machine.travel(PROVISIONED, tick=False):
        lifecycle.assign(world.org_admin, pending.pk, world.hotel)
    switch_on(world, world.hotel)
    seen = SWITCHED_ON + dt.timedelta(hours=1)
    ok(api, world, [event(world.hotel, lab(n), seen) for n in range(5)], at=seen)
    ok(api, world, [event(world.shop, guest(n), seen) for n in range(4)], at=seen)
    assert status(pending) == LicenseStatus.PENDING_START and progress(pending) == 4
    body = ok(api, world, [event(world.shop, guest(4), seen)], at=seen)
    assert body["started"] == [pending.pk]


def test_a_location_switched_on_meanwhile_does_not_start_on_the_stale_read(
    world, api, pending, monkeypatch
):
    """The intake reads outside its transaction: a location put in installation between
    its reads and its writes still holds its devices back where the start is decided."""
    seen = SWITCHED_ON + dt.timedelta(seconds=30)
    ok(api, world, [event(world.shop, guest(n), seen) for n in range(4)], at=seen)
    read = intake._pending_devices

    def read_then_switch_on(*args):
        found = read(*args)
        switch_on(world, world.shop, at=seen + dt.timedelta(seconds=1), until=None)
        return found

    monkeypatch.setattr(intake, "_pending_devices", read_then_switch_on)
    later = seen + dt.timedelta(seconds=1)
    body = ok(api, world, [event(world.shop, guest(4), seen)], at=later)
    assert body["started"] == []
    assert status(pending) == LicenseStatus.PENDING_START


def test_the_installation_check_costs_no_query_per_event(world, api, pending, settings):
    """A batch's queries do not grow with its events; the installer devices are one query
    per batch (the locations' installation fields come with the locations' read)."""
    settings.LICENSE_START_DEVICES = 10_000  # no start: the same work for every batch
    switch_on(world, world.shop, until=None)
    with time_machine.travel(SWITCHED_ON + dt.timedelta(hours=1), tick=False):
        installers.add_installer_device(world.partner_admin, world.partner, mac=lab(99))
    seen = SWITCHED_ON + dt.timedelta(hours=2)

    def queries(n: int) -> list[str]:
        events = [event(world.shop, guest(k), seen) for k in range(n)]
        with time_machine.travel(seen, tick=False), CaptureQueriesContext(connection) as sent:
            intake.ingest(events)
        return [q["sql"] for q in sent]

    # in installation: no per-device reads at all
    assert len(queries(10)) == len(queries(1000))
    switch_off(world, world.shop, at=SWITCHED_ON + dt.timedelta(hours=1, minutes=30))
    few, many = queries(3), queries(1000)
    assert len(few) == len(many)
    assert sum("connections_installerdevice" in sql for sql in many) == 2  # read, recheck


# --- Installer devices ------------------------------------------------------------------


def test_an_installer_device_never_counts_at_the_partners_locations(world, api, pending):
    with time_machine.travel(PROVISIONED, tick=False):
        for n in range(3):
            installers.add_installer_device(world.partner_admin, world.partner, mac=lab(n))
    seen = PROVISIONED + dt.timedelta(days=1)
    # in another notation: the same device
    phones = [lab(n).replace(":", "-").lower() for n in range(3)]
    body = ok(
        api,
        world,
        [event(world.shop, phone, seen) for phone in phones]
        + [event(world.shop, guest(n), seen) for n in range(4)],
        at=seen,
    )
    assert body["started"] == [] and progress(pending) == 4
    assert aggregate(world.shop) == 7
    assert ok(api, world, [event(world.shop, guest(4), seen)], at=seen)["started"] == [pending.pk]


def test_another_partners_installer_device_counts_here(world, api):
    from wlm.licenses import lifecycle
    from wlm.licenses import services as licenses

    with time_machine.travel(PROVISIONED, tick=False):
        terms = licenses.Terms(
            location=world.other_office,
            distributor=world.other_dist,
            years=1,
            payment="annual",
            aps=5,
        )
        key = licenses.create_license(world.other_dist_admin, terms).key
        other = lifecycle.provision(world.other_org_admin, world.other_office, key)
    with time_machine.travel(PROVISIONED, tick=False):
        installers.add_installer_device(world.partner_admin, world.partner, mac=lab(1))
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.other_office, lab(1), seen)], at=seen)
    assert progress(other) == 1


def test_registering_a_device_uncounts_what_was_kept_of_it(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, lab(n), seen) for n in range(4)], at=seen)
    assert progress(pending) == 4
    with time_machine.travel(seen, tick=False):
        installers.add_installer_device(world.partner_admin, world.partner, mac=lab(0))
    assert progress(pending) == 3
    assert not PendingDevice.objects.filter(device=intake.device_key(lab(0))).exists()
    # the fifth distinct device is the fourth that counts: no start
    ok(api, world, [event(world.shop, guest(0), seen)], at=seen)
    assert status(pending) == LicenseStatus.PENDING_START


def test_a_device_registered_meanwhile_does_not_start_it(world, api, pending, monkeypatch):
    """Registered between the intake's reads and its writes: the start's own check
    (``counting``, under the license's lock) leaves it out."""
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, guest(n), seen) for n in range(4)], at=seen)
    read = intake._pending_devices

    def read_then_register(*args):
        found = read(*args)
        InstallerDevice.objects.create(
            partner=world.partner, device=intake.device_key(lab(7)), created=seen
        )
        return found

    monkeypatch.setattr(intake, "_pending_devices", read_then_register)
    assert ok(api, world, [event(world.shop, lab(7), seen)], at=seen)["started"] == []
    assert status(pending) == LicenseStatus.PENDING_START and progress(pending) == 4


# --- RADIUS accounting: the same rule -----------------------------------------------------


def radius_start(world, n: int, seen: dt.datetime, *, device=None) -> accounting.Packet:
    station = "02-00-00-00-00-01:Hotel Guests"  # the hotel's access point (``world``)
    return accounting.packet(
        status_type="Start",
        location=str(world.hotel.pk),
        station=station,
        device=device or guest(n),
        session=f"session-{n}-{seen.timestamp()}",
        event_timestamp=int(seen.timestamp()),
        now=seen,
    )


def test_radius_accounting_follows_installation_and_installer_devices(world):
    license = provisioned_license(world, world.hotel, PROVISIONED)
    buffer = accounting.Buffer(writer=False)
    switch_on(world, world.hotel)
    testing = SWITCHED_ON + dt.timedelta(hours=3)
    for n in range(6):
        buffer.add(world.gateway.pk, radius_start(world, n, testing, device=lab(n)))
    with time_machine.travel(testing, tick=False):
        assert buffer.flush() == 6
    assert status(license) == LicenseStatus.PENDING_START
    assert aggregate(world.hotel) == 6 and progress(license) == 0
    opened = ENDS + dt.timedelta(hours=1)
    with time_machine.travel(opened, tick=False):
        installers.add_installer_device(world.partner_admin, world.partner, mac=lab(50))
    packets = [radius_start(world, 50, opened, device=lab(50))]
    packets += [radius_start(world, n, opened) for n in range(4)]
    for packet in packets:
        buffer.add(world.gateway.pk, packet)
    with time_machine.travel(opened, tick=False):
        buffer.flush()
    assert status(license) == LicenseStatus.PENDING_START and progress(license) == 4
    # the fifth guest at 23:10 UTC on the 9th: already the 10th in Madrid (the hotel)
    fifth = dt.datetime(2027, 6, 9, 23, 10, tzinfo=UTC)
    buffer.add(world.gateway.pk, radius_start(world, 4, fifth))
    with time_machine.travel(fifth, tick=False):
        buffer.flush()
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
    assert license.start_date == dt.date(2027, 6, 10)
