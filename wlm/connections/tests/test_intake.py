"""The intake of device connections and the start of the contract (DESIGN §4).

POST /api/v1/connections/ as the gateway: per-event refusals, whole-body refusals,
hashed device ids, the start at the fifth distinct device ordered by ``seen_at``.
"""

import datetime as dt
import hashlib
import random
import re
import uuid

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from wlm.audit.models import AuditEntry, Kind
from wlm.conftest import provisioned_license
from wlm.connections import services as intake
from wlm.connections.models import LocationDay, PendingDevice
from wlm.licenses import lifecycle, tokens
from wlm.licenses.dates import add_years
from wlm.licenses.models import (
    CurrentLicense,
    EventKind,
    LicenseStatus,
    SignedLicense,
    StartMode,
)
from wlm.locations.models import Location
from wlm.notifications import schedule
from wlm.notifications.models import Notice

URL = "/api/v1/connections/"
PROBLEM = "application/problem+json"
UTC = dt.UTC
PROVISIONED = dt.datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
NOW = dt.datetime(2027, 6, 30, 14, 0, tzinfo=UTC)  # when the gateway posts
HEX64 = re.compile(r"[0-9a-f]{64}")


def mac(n: int) -> str:
    return f"AA:BB:CC:DD:EE:{n:02X}"


def event(location, device, seen_at: dt.datetime | None = None) -> dict:
    row = {"location": str(location.pk), "device": device}
    if seen_at is not None:
        row["seen_at"] = seen_at.isoformat()
    return row


def post(api, user, events, *, at=NOW):
    with time_machine.travel(at, tick=False):
        return api(user).post(URL, {"events": events}, format="json")


def ok(api, world, events, *, at=NOW) -> dict:
    response = post(api, world.gateway, events, at=at)
    assert response.status_code == 200, response.content
    return response.json()


def make_license(world, location=None, *, at=PROVISIONED, years=1, **start):
    return provisioned_license(world, location or world.shop, at, years=years, **start)


@pytest.fixture
def pending(world):
    """An automatic-start license for the shop (Pacific/Auckland), provisioned at PROVISIONED."""
    license = make_license(world)
    assert license.status == LicenseStatus.PENDING_START
    assert license.provisioned == PROVISIONED
    return license


def stored_counts():
    return LocationDay.objects.count(), PendingDevice.objects.count()


def aggregate_events() -> int:
    return LocationDay.objects.aggregate(total=Sum("events"))["total"] or 0


# --- The threshold ------------------------------------------------------------------


def test_four_distinct_devices_and_repeats_do_not_start_it(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    events = [
        event(world.shop, mac(n % 4), seen + dt.timedelta(minutes=i))
        for i, n in enumerate(range(40))
    ]
    body = ok(api, world, events)
    assert body["started"] == []
    assert body["accepted"] == 40
    assert body["duplicates"] == 36
    assert body["rejected"] == []
    # and again in a later batch: still four
    body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(4)] * 3)
    assert body["started"] == []
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.PENDING_START
    assert pending.start_date is None
    assert PendingDevice.objects.filter(license=pending).count() == 4
    assert not pending.events.filter(kind=EventKind.STARTED).exists()


def test_fifth_distinct_device_starts_the_license(world, api, pending):
    seen = dt.datetime(2027, 6, 10, 0, 0, tzinfo=UTC)  # 12:00 in Auckland
    ok(api, world, [event(world.shop, mac(n), seen + dt.timedelta(hours=n)) for n in range(4)])
    body = ok(api, world, [event(world.shop, mac(4), seen + dt.timedelta(hours=4))])
    assert body["started"] == [pending.pk]
    assert body["accepted"] == 1
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.IN_USE
    assert pending.start_date == dt.date(2027, 6, 10)
    assert pending.end_date == add_years(dt.date(2027, 6, 10), 1)
    assert pending.end_date == dt.date(2028, 6, 10)
    started = list(pending.events.filter(kind=EventKind.STARTED))
    assert len(started) == 1
    after = started[0].after
    assert after["threshold"] == 5
    devices = [row["device"] for row in after["devices"]]
    assert devices == [intake.device_key(mac(n)) for n in range(5)]
    assert len(set(devices)) == 5
    clear = {mac(n) for n in range(5)} | {mac(n).replace(":", "").lower() for n in range(5)}
    assert not clear & set(devices)
    assert all(HEX64.fullmatch(device) for device in devices)
    assert all(row["location"] == str(world.shop.pk) for row in after["devices"])
    assert [dt.datetime.fromisoformat(row["seen_at"]) for row in after["devices"]] == [
        seen + dt.timedelta(hours=n) for n in range(5)
    ]
    assert mac(0) not in str(started[0].after)
    # the per-device rows of a started license are gone
    assert not PendingDevice.objects.filter(license=pending).exists()


def test_five_distinct_devices_in_one_batch_start_it(world, api, pending):
    seen = dt.datetime(2027, 6, 10, 0, 0, tzinfo=UTC)
    body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(5)])
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.IN_USE
    assert pending.events.filter(kind=EventKind.STARTED).count() == 1


def test_one_batch_starts_several_licenses_each_with_its_own_date_and_history(world, api, pending):
    """The starts of a batch are written together (``lifecycle.start_all``): each license
    gets its own dates, history event, audit entry, notices, token and copies, and a
    batch that starts two licenses makes as many statements as one that starts one."""
    cafe = Location.objects.create(
        organization=world.org,
        name="Café",
        sector=world.hotel.sector,
        timezone="America/New_York",
        address="Calle 4",
        country="ES",
    )
    hotel, coffee = make_license(world, world.hotel), make_license(world, cafe)
    seen = dt.datetime(2027, 6, 10, 11, 30, tzinfo=UTC)
    with CaptureQueriesContext(connection) as one:
        body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(5)])
    assert body["started"] == [pending.pk]
    events = [event(world.hotel, mac(n), seen + dt.timedelta(hours=n)) for n in range(5)]
    events += [event(cafe, mac(n), seen + dt.timedelta(hours=10 + n)) for n in range(5)]
    with CaptureQueriesContext(connection) as two:
        body = ok(api, world, events)
    assert sorted(body["started"]) == sorted([hotel.pk, coffee.pk])
    assert len(two) == len(one)
    # each license's fifth device, in its location's zone
    expected = {
        pending.pk: dt.date(2027, 6, 10),  # 11:30 UTC: 23:30 in Auckland
        hotel.pk: dt.date(2027, 6, 10),  # 15:30 UTC: 17:30 in Madrid
        coffee.pk: dt.date(2027, 6, 10),  # 01:30 UTC on the 11th: 21:30 in New York
    }
    for license in (pending, hotel, coffee):
        license.refresh_from_db()
        assert license.status == LicenseStatus.IN_USE
        assert license.start_date == expected[license.pk]
        assert license.end_date == add_years(license.start_date, license.years)
        [started] = license.events.filter(kind=EventKind.STARTED)
        assert started.after["threshold"] == 5
        assert {row["location"] for row in started.after["devices"]} == {str(license.location_id)}
        entries = AuditEntry.objects.filter(kind=Kind.LICENSE_STARTED, object_id=str(license.pk))
        assert entries.count() == 1
        notices = Notice.objects.filter(license=license, end_date=license.end_date)
        assert notices.count() == len(schedule.notice_days(license.end_date))
        claims = tokens.unverified_claims(SignedLicense.objects.get(license=license).token)
        assert claims["lic"]["start"] == license.start_date.isoformat()
        assert claims["lic"]["end"] == license.end_date.isoformat()
        current = CurrentLicense.objects.get(location=license.location_id)
        assert (current.license_id, current.end_date) == (license.pk, license.end_date)
    assert not PendingDevice.objects.exists()


# --- Duplicates ---------------------------------------------------------------------


def test_same_device_twice_in_a_batch_is_a_duplicate(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    body = ok(api, world, [event(world.shop, mac(1), seen), event(world.shop, mac(1), seen)])
    assert body == {"accepted": 2, "duplicates": 1, "rejected": [], "started": []}
    assert PendingDevice.objects.filter(license=pending).count() == 1


def test_device_sent_again_in_a_later_batch_is_a_duplicate(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, mac(1), seen)])
    body = ok(api, world, [event(world.shop, mac(1), seen + dt.timedelta(hours=1))])
    assert body == {"accepted": 1, "duplicates": 1, "rejected": [], "started": []}
    assert PendingDevice.objects.filter(license=pending).count() == 1
    # the earliest time is kept
    assert PendingDevice.objects.get(license=pending).first_seen == seen


def test_device_sent_again_earlier_keeps_the_earliest_time(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=2)
    ok(api, world, [event(world.shop, mac(1), seen)])
    ok(api, world, [event(world.shop, mac(1), seen - dt.timedelta(days=1))])
    assert PendingDevice.objects.get(license=pending).first_seen == seen - dt.timedelta(days=1)


def test_mac_notations_count_as_the_same_device(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    notations = ["aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff", "AABBCCDDEEFF"]
    body = ok(api, world, [event(world.shop, n, seen) for n in notations])
    assert body["accepted"] == 4
    assert body["duplicates"] == 3
    assert body["rejected"] == []
    rows = list(PendingDevice.objects.filter(license=pending).values_list("device", flat=True))
    assert rows == [intake.device_key("AA:BB:CC:DD:EE:FF")]


# --- Provisioning time ----------------------------------------------------------------


def test_events_before_provisioning_are_ignored(world, api, pending):
    before = PROVISIONED - dt.timedelta(seconds=1)
    body = ok(api, world, [event(world.shop, mac(n), before) for n in range(10)])
    assert body["accepted"] == 10
    assert body["started"] == []
    assert not PendingDevice.objects.filter(license=pending).exists()
    # four after provisioning (two of them also seen before): still not five
    body = ok(api, world, [event(world.shop, mac(n), PROVISIONED) for n in range(4)])
    assert body["started"] == []
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.PENDING_START
    body = ok(api, world, [event(world.shop, mac(4), PROVISIONED + dt.timedelta(hours=1))])
    assert body["started"] == [pending.pk]


def test_events_before_provisioning_do_not_count_in_a_mixed_batch(world, api, pending):
    before = PROVISIONED - dt.timedelta(days=1)
    after = PROVISIONED + dt.timedelta(days=1)
    events = [event(world.shop, mac(n), before) for n in range(5)] + [
        event(world.shop, mac(n), after) for n in range(10, 14)
    ]
    body = ok(api, world, events)
    assert body["started"] == []
    assert PendingDevice.objects.filter(license=pending).count() == 4


# --- Ordered by seen_at, not by arrival -----------------------------------------------

# Six devices at the shop (Auckland, UTC+12 in winter): the first four on 2027-06-10 local,
# the fifth at 00:30 on 2027-06-11 local, the sixth on 2027-06-12 local.
SIX = [
    dt.datetime(2027, 6, 10, 1, 0, tzinfo=UTC),
    dt.datetime(2027, 6, 10, 2, 0, tzinfo=UTC),
    dt.datetime(2027, 6, 10, 3, 0, tzinfo=UTC),
    dt.datetime(2027, 6, 10, 4, 0, tzinfo=UTC),
    dt.datetime(2027, 6, 10, 12, 30, tzinfo=UTC),  # 2027-06-11 00:30 NZST
    dt.datetime(2027, 6, 12, 0, 0, tzinfo=UTC),  # 2027-06-12 12:00 NZST
]
FIFTH_LOCAL_DATE = dt.date(2027, 6, 11)


def six_events(world):
    return [event(world.shop, mac(n), SIX[n]) for n in range(6)]


def started_on(world, api, license, batches) -> dt.date:
    started = []
    for batch in batches:
        started += ok(api, world, batch)["started"]
    assert started == [license.pk]
    license.refresh_from_db()
    assert license.status == LicenseStatus.IN_USE
    assert license.events.filter(kind=EventKind.STARTED).count() == 1
    return license.start_date


def test_ordered_batches_start_on_the_local_date_of_the_fifth_device(world, api, pending):
    events = six_events(world)
    assert started_on(world, api, pending, [[e] for e in events]) == FIFTH_LOCAL_DATE


@pytest.mark.parametrize(
    "order",
    [
        [[5, 4, 3, 2, 1, 0]],  # one batch, reversed
        [[3, 0, 5, 1, 4, 2]],  # one batch, shuffled
        [[5, 2, 0], [4, 1, 3]],  # the sixth device first
        [[3, 0], [5, 1], [2, 4]],  # the fifth device in the last batch
        [[0, 1, 2, 3], [5, 4]],  # sixth before fifth in the same batch
        [[4, 5, 3], [1, 0, 2]],
    ],
)
def test_out_of_order_batches_give_the_ordered_start_date(world, api, pending, order):
    events = six_events(world)
    batches = [[events[i] for i in batch] for batch in order]
    assert started_on(world, api, pending, batches) == FIFTH_LOCAL_DATE


def test_late_event_with_an_earlier_seen_at_still_gives_the_ordered_result(world, api, pending):
    # four devices arrive first, among them the latest one (2027-06-12 local)
    first = [event(world.shop, mac(n), SIX[n]) for n in (0, 1, 2, 5)]
    body = ok(api, world, first)
    assert body["started"] == []
    # the late one was seen before the sixth: ordered by seen_at it is the fourth, so the
    # fifth earliest device is the sixth one, not the event that arrived last
    late = event(world.shop, mac(3), SIX[3])
    body = ok(api, world, [late])
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.start_date == dt.date(2027, 6, 12)
    devices = [row["device"] for row in pending.events.get(kind=EventKind.STARTED).after["devices"]]
    assert devices == [intake.device_key(mac(n)) for n in (0, 1, 2, 3, 5)]


def test_repeat_with_an_earlier_seen_at_moves_the_decisive_device(world, api, pending):
    # four devices on 2027-06-10 local; device 0 first seen on 2027-06-12 local
    ok(api, world, [event(world.shop, mac(0), SIX[5])])
    ok(api, world, [event(world.shop, mac(n), SIX[n]) for n in (1, 2, 3)])
    # a late report shows device 0 was seen on 2027-06-10 already
    ok(api, world, [event(world.shop, mac(0), SIX[0])])
    body = ok(api, world, [event(world.shop, mac(4), SIX[4])])
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.start_date == FIFTH_LOCAL_DATE


# --- Time zones -------------------------------------------------------------------------


def test_start_date_is_the_local_date_in_auckland(world, api, pending):
    decisive = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)  # 2027-07-01 01:00 NZST
    earlier = [event(world.shop, mac(n), decisive - dt.timedelta(hours=5 - n)) for n in range(4)]
    ok(api, world, earlier)
    body = ok(
        api,
        world,
        [{"location": str(world.shop.pk), "device": mac(4), "seen_at": "2027-06-30T13:00Z"}],
    )
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.start_date == dt.date(2027, 7, 1)
    assert pending.end_date == dt.date(2028, 7, 1)


def test_start_date_is_the_local_date_in_madrid(world, api):
    hotel = make_license(world, world.hotel)
    decisive = dt.datetime(2027, 6, 30, 22, 30, tzinfo=UTC)  # 2027-07-01 00:30 CEST
    events = [event(world.hotel, mac(n), decisive - dt.timedelta(hours=4 - n)) for n in range(5)]
    body = ok(api, world, events, at=decisive + dt.timedelta(minutes=1))
    assert body["started"] == [hotel.pk]
    hotel.refresh_from_db()
    assert hotel.start_date == dt.date(2027, 7, 1)


def test_seen_at_with_an_offset_is_the_same_moment(world, api, pending):
    ok(api, world, [event(world.shop, mac(n), SIX[n]) for n in range(4)])
    # 2027-06-10T12:30Z written in Auckland's offset
    body = ok(
        api,
        world,
        [
            {
                "location": str(world.shop.pk),
                "device": mac(4),
                "seen_at": "2027-06-11T00:30:00+12:00",
            }
        ],
    )
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.start_date == FIFTH_LOCAL_DATE


def test_seen_at_defaults_to_now(world, api, pending):
    now = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)
    body = ok(api, world, [event(world.shop, mac(n)) for n in range(5)], at=now)
    assert body["started"] == [pending.pk]
    pending.refresh_from_db()
    assert pending.start_date == dt.date(2027, 7, 1)


# --- Per-event refusals ---------------------------------------------------------------


def test_bad_events_are_refused_by_index_and_the_rest_accepted(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    good = str(world.shop.pk)
    events = [
        {"location": good, "device": "user@realm", "seen_at": seen.isoformat()},  # 0 ok
        {"location": str(uuid.uuid4()), "device": mac(1)},  # 1 unknown location
        {"location": "not-a-uuid", "device": mac(1)},  # 2 malformed location
        {"location": good, "device": "aa:bb:cc"},  # 3 MAC-looking, not a MAC
        {"location": good, "device": ""},  # 4 empty
        {"location": good, "device": 12345},  # 5 not a string
        {
            "location": good,
            "device": mac(2),
            "seen_at": (NOW + dt.timedelta(minutes=6)).isoformat(),
        },
        {"location": good, "device": mac(2), "seen_at": "2027-06-30T13:00:00"},  # 7 no offset
        {"location": good, "device": mac(2), "seen_at": "yesterday"},  # 8 garbage
        {"location": good, "device": mac(2), "rssi": -40},  # 9 unknown field
        {"location": good, "device": "ABC123-x", "seen_at": seen.isoformat()},  # 10 ok
        {
            "location": good,
            "device": mac(3),
            "seen_at": (NOW + dt.timedelta(minutes=4)).isoformat(),
        },
        {"location": 42, "device": mac(1)},  # 12 location not a string
        {"device": mac(1)},  # 13 no location
        {"location": good},  # 14 no device
        "AA:BB:CC:DD:EE:01",  # 15 not an object
        {"location": good, "device": "has space"},  # 16 not an opaque id
        {"location": good, "device": "x" * 129},  # 17 too long
        {"location": good, "device": mac(4), "seen_at": None},  # 18 ok: default now
    ]
    before = aggregate_events()
    body = ok(api, world, events)
    refused = [row["index"] for row in body["rejected"]]
    assert refused == [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17]
    assert all(isinstance(row["error"], str) and row["error"] for row in body["rejected"])
    errors = {row["index"]: row["error"] for row in body["rejected"]}
    assert "location" in errors[1].lower()
    assert "future" in errors[6]
    assert "time zone" in errors[7] or "offset" in errors[7]
    assert "rssi" in errors[9]
    assert body["accepted"] == 4
    assert body["started"] == []
    assert aggregate_events() - before == 4
    stored = set(PendingDevice.objects.filter(license=pending).values_list("device", flat=True))
    assert stored == {intake.device_key(d) for d in ("user@realm", "ABC123-x", mac(3), mac(4))}


def test_a_batch_of_only_bad_events_stores_nothing(world, api, pending):
    before = stored_counts()
    body = ok(api, world, [{"location": str(uuid.uuid4()), "device": mac(1)}, {"device": ""}])
    assert body == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [
            {"index": 0, "error": body["rejected"][0]["error"]},
            {"index": 1, "error": body["rejected"][1]["error"]},
        ],
        "started": [],
    }
    assert stored_counts() == before


def test_opaque_ids_count_towards_the_start(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    ids = ["user@realm", "ABC123-x", "host/pc.example.org", "a", "b+c=d"]
    body = ok(api, world, [event(world.shop, d, seen) for d in ids])
    assert body["rejected"] == []
    assert body["started"] == [pending.pk]


# --- Whole-body refusals ----------------------------------------------------------------


def assert_problem(response, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["status"] == status


def test_more_than_ten_thousand_events_is_a_400_and_stores_nothing(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    events = [event(world.shop, mac(n % 256), seen) for n in range(intake.MAX_EVENTS + 1)]
    before = stored_counts()
    assert_problem(post(api, world.gateway, events))
    assert stored_counts() == before
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.PENDING_START


def test_exactly_ten_thousand_events_are_taken(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    events = [event(world.shop, mac(n % 3), seen) for n in range(intake.MAX_EVENTS)]
    body = ok(api, world, events)
    assert body["accepted"] == intake.MAX_EVENTS
    assert aggregate_events() == intake.MAX_EVENTS


@pytest.mark.parametrize(
    "body",
    [
        {"events": {}},
        {"events": "AA:BB:CC:DD:EE:01"},
        {"events": None},
        [],
        [{"location": "x", "device": "y"}],
        {},
        {"event": []},
    ],
    ids=[
        "events-object",
        "events-string",
        "events-null",
        "list",
        "list-of-events",
        "empty",
        "typo",
    ],
)
def test_a_body_of_the_wrong_shape_is_a_400(world, api, pending, body):
    before = stored_counts()
    with time_machine.travel(NOW, tick=False):
        response = api(world.gateway).post(URL, body, format="json")
    assert_problem(response)
    assert stored_counts() == before


@pytest.mark.parametrize(
    "data",
    [
        b"{events: [",
        b'{"events": [{"location": NaN}]}',
        b'{"events": [], "n": Infinity}',
        '{"events": ["caf\u00e9"]}'.encode("latin-1"),
        b"",
    ],
    ids=["not-json", "nan", "infinity", "not-utf8", "empty"],
)
def test_a_body_that_is_not_json_is_a_400(world, api, pending, data):
    before = stored_counts()
    response = api(world.gateway).post(URL, data=data, content_type="application/json")
    assert_problem(response)
    assert stored_counts() == before


def test_an_empty_list_of_events_is_fine(world, api):
    assert ok(api, world, []) == {"accepted": 0, "duplicates": 0, "rejected": [], "started": []}


# --- Permissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("staff", 403), ("staff_viewer", 403), ("org_admin", 403), ("dist_admin", 403), (None, 401)],
)
def test_only_the_gateway_reports_connections(world, api, pending, who, status):
    seen = PROVISIONED + dt.timedelta(days=1)
    user = getattr(world, who) if who else None
    before = stored_counts()
    response = post(api, user, [event(world.shop, mac(n), seen) for n in range(5)])
    assert_problem(response, status)
    assert stored_counts() == before
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.PENDING_START


# --- Licenses that connections do not start ---------------------------------------------


def test_fixed_start_license_is_not_started_by_connections(world, api):
    license = make_license(world, start_mode=StartMode.FIXED, fixed_start=dt.date(2027, 9, 1))
    assert license.status == LicenseStatus.PENDING_START
    seen = PROVISIONED + dt.timedelta(days=1)
    body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(8)])
    assert body["started"] == []
    assert body["accepted"] == 8
    license.refresh_from_db()
    assert license.status == LicenseStatus.PENDING_START
    assert license.start_date is None
    assert not license.events.filter(kind=EventKind.STARTED).exists()
    assert not PendingDevice.objects.exists()
    assert aggregate_events() == 8


def test_in_use_license_keeps_only_the_daily_aggregate(world, api, pending):
    seen = dt.datetime(2027, 6, 10, 0, 0, tzinfo=UTC)
    ok(api, world, [event(world.shop, mac(n), seen) for n in range(5)])
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.IN_USE
    assert not PendingDevice.objects.filter(license=pending).exists()
    start_date = pending.start_date
    before = aggregate_events()
    rng = random.Random(4)
    events = [
        event(world.shop, mac(rng.randrange(200)), seen + dt.timedelta(hours=rng.randrange(400)))
        for _ in range(300)
    ] + [{"location": str(uuid.uuid4()), "device": mac(1)}]
    body = ok(api, world, events)
    assert body["accepted"] == 300
    assert body["started"] == []
    assert aggregate_events() - before == 300
    assert not PendingDevice.objects.exists()
    pending.refresh_from_db()
    assert pending.start_date == start_date
    assert pending.events.filter(kind=EventKind.STARTED).count() == 1


def test_daily_aggregate_counts_events_per_local_day(world, api):
    # 2027-06-30T13:00Z is 2027-07-01 in Auckland and 2027-06-30 in Madrid
    moment = dt.datetime(2027, 6, 30, 13, 0, tzinfo=UTC)
    events = [event(world.shop, mac(1), moment)] * 3 + [event(world.hotel, mac(1), moment)] * 2
    ok(api, world, events)
    rows = set(LocationDay.objects.values_list("location_id", "day", "events"))
    assert rows == {
        (world.shop.pk, dt.date(2027, 7, 1), 3),
        (world.hotel.pk, dt.date(2027, 6, 30), 2),
    }
    ok(api, world, events)
    rows = set(LocationDay.objects.values_list("location_id", "day", "events"))
    assert rows == {
        (world.shop.pk, dt.date(2027, 7, 1), 6),
        (world.hotel.pk, dt.date(2027, 6, 30), 4),
    }


# --- Devices are never stored in clear -------------------------------------------------


def test_stored_device_is_a_keyed_hash_not_the_mac(world, api, pending):
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, "aa:bb:cc:dd:ee:01", seen)])
    row = PendingDevice.objects.get(license=pending)
    assert HEX64.fullmatch(row.device)
    assert row.device == intake.device_key("AA:BB:CC:DD:EE:01")
    assert row.device not in {"AA:BB:CC:DD:EE:01", "aa:bb:cc:dd:ee:01", "aabbccddee01"}
    # keyed: not the plain SHA-256 of the MAC

    assert row.device != hashlib.sha256(b"AA:BB:CC:DD:EE:01").hexdigest()
    assert row.first_seen == seen
    assert row.location_id == world.shop.pk


# --- Found while testing ------------------------------------------------------------------


def test_device_known_to_another_license_is_not_a_duplicate(world, api, pending):
    hotel = make_license(world, world.hotel)
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.hotel, mac(1), seen)])
    # mac(1) is new for the shop's license, mac(2) is new for the hotel's license
    body = ok(api, world, [event(world.shop, mac(1), seen), event(world.hotel, mac(2), seen)])
    assert PendingDevice.objects.filter(license=pending).count() == 1
    assert PendingDevice.objects.filter(license=hotel).count() == 2
    assert body["duplicates"] == 0


def test_seen_at_out_of_range_is_refused_by_index(world, api, pending):
    client = api(world.gateway)
    client.raise_request_exception = False
    good = event(world.shop, mac(1), PROVISIONED + dt.timedelta(days=1))
    bad = {"location": str(world.hotel.pk), "device": mac(2), "seen_at": "0001-01-01T00:00:00Z"}
    before = stored_counts()
    with time_machine.travel(NOW, tick=False):
        response = client.post(URL, {"events": [good, bad]}, format="json")
    assert response.status_code == 200, response.status_code
    assert [row["index"] for row in response.json()["rejected"]] == [1]
    assert response.json()["accepted"] == 1
    assert stored_counts() != before


def test_events_in_the_second_of_provisioning_count(world, api):
    """Gateways often send whole seconds: 09:00:05Z counts for a Send Key at 09:00:05.7."""
    license = make_license(world, at=PROVISIONED.replace(second=5, microsecond=700_000))
    in_that_second = PROVISIONED.replace(second=5)
    body = ok(api, world, [event(world.shop, mac(n), in_that_second) for n in range(5)])
    assert body["started"] == [license.pk]
    before = PROVISIONED.replace(second=4)
    other = make_license(world, world.hotel, at=PROVISIONED.replace(second=5, microsecond=1))
    body = ok(api, world, [event(world.hotel, mac(n), before) for n in range(5)])
    assert body["started"] == []
    other.refresh_from_db()
    assert other.status == LicenseStatus.PENDING_START


# --- Reads made before the write transaction may be stale ------------------------------


def _change_after_the_read(monkeypatch, change):
    """Run ``change`` between the intake's reads and its write transaction, as a
    concurrent intake or a distributor would."""
    read = intake._pending_devices

    def read_then_change(*args):
        found = read(*args)
        change()
        return found

    monkeypatch.setattr(intake, "_pending_devices", read_then_change)


def test_a_license_started_meanwhile_keeps_no_device_rows(world, api, pending, monkeypatch):
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, mac(n), seen) for n in range(3)])

    def start_elsewhere():  # another intake's fifth device, committed first
        lifecycle.start(pending.pk, seen.date())

    _change_after_the_read(monkeypatch, start_elsewhere)
    body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(3, 7)])
    assert body["started"] == []
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.IN_USE
    assert pending.events.filter(kind=EventKind.STARTED).count() == 1
    assert not PendingDevice.objects.filter(license=pending).exists()


def test_a_license_denied_meanwhile_keeps_its_devices_for_a_restore(
    world, api, pending, monkeypatch
):
    seen = PROVISIONED + dt.timedelta(days=1)
    ok(api, world, [event(world.shop, mac(n), seen) for n in range(2)])

    def deny():
        with time_machine.travel(NOW, tick=False):
            lifecycle.deny(world.dist_admin, pending.pk, "Unpaid.")

    _change_after_the_read(monkeypatch, deny)
    body = ok(api, world, [event(world.shop, mac(n), seen) for n in range(2, 5)])
    assert body["started"] == []
    pending.refresh_from_db()
    assert pending.status == LicenseStatus.ACCESS_DENIED
    assert PendingDevice.objects.filter(license=pending).count() == 5
    monkeypatch.undo()
    with time_machine.travel(NOW, tick=False):
        lifecycle.restore(world.dist_admin, pending.pk)
    # restored to pending start with five devices counted: the next device starts it
    body = ok(api, world, [event(world.shop, mac(9), seen)])
    assert body["started"] == [pending.pk]
