"""The intake of device connections and the start trigger (DESIGN §4, pending_start → in_use).

``ingest`` validates each event on its own, keeps per-device rows only for licenses that
are pending start (hashed device ids, never in clear), adds every accepted event to the
location's daily aggregate, and starts each license whose distinct devices reach
``LICENSE_START_DEVICES``, through the lifecycle service, in the same transaction.

The start date is the local date of the event that reached the threshold *ordered by
``seen_at``*: each device keeps the earliest time it was seen, and the threshold-th
earliest device decides, so late and out-of-order batches give the result of ordered
ones. Exactly one start under concurrency: the license row is locked before counting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from wlm.connections.models import LocationDay, PendingDevice
from wlm.lib import clock
from wlm.lib.validators import normalize_mac
from wlm.licenses import lifecycle
from wlm.licenses.dates import local_date
from wlm.licenses.models import Assignment, LicenseStatus, StartMode
from wlm.locations.models import Location

MAX_EVENTS = 10_000
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
PAST_LIMIT = dt.timedelta(days=366)  # a gateway's buffer, not history (and no year-1 dates)
# Looks like a MAC (hex pairs with : or -, or dotted quads of hex): must then be a valid one.
_MAC_LIKE = re.compile(r"[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2})+|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4})+")
_MAC_PLAIN = re.compile(r"[0-9a-fA-F]{12}")
# An opaque id (RADIUS User-Name, a platform's device id): printable, no spaces, 1-128.
_OPAQUE = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    started: list[int] = field(default_factory=list)


def device_key(device: str) -> str:
    """The keyed hash stored for a device id: HMAC-SHA256 with ``DEVICE_HASH_KEY``."""
    return hmac.new(settings.DEVICE_HASH_KEY, device.encode(), hashlib.sha256).hexdigest()


def normalize_device(value) -> str:
    """A MAC in any usual notation becomes ``AA:BB:CC:DD:EE:FF``; other ids stay as sent."""
    if not isinstance(value, str):
        raise ValueError(_("device must be a string."))
    text = value.strip()
    if _MAC_LIKE.fullmatch(text) or _MAC_PLAIN.fullmatch(text):
        try:
            return normalize_mac(text)
        except ValidationError:
            raise ValueError(_("device looks like a MAC address but is not one.")) from None
    if not _OPAQUE.fullmatch(text):
        raise ValueError(
            _("device must be a MAC address or an id of 1 to 128 printable characters.")
        )
    return text


def _seen_at(value, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise ValueError(_("seen_at must be an ISO 8601 time with its offset."))
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(_("seen_at must be an ISO 8601 time with its offset."))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(_("seen_at has no time zone: add its offset, e.g. Z or +02:00."))
    if moment - now > FUTURE_TOLERANCE:
        raise ValueError(_("seen_at is more than 5 minutes in the future."))
    if now - moment > PAST_LIMIT:
        raise ValueError(_("seen_at is more than a year in the past."))
    return moment


def _location_id(value) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError(_("location must be a location id (UUID)."))
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(_("location must be a location id (UUID).")) from None


@dataclass(frozen=True)
class _Event:
    location: uuid.UUID
    device: str
    seen_at: dt.datetime


def _parse(raw_events: list, now: dt.datetime, result: IngestResult) -> list[tuple[int, _Event]]:
    parsed = []
    for index, raw in enumerate(raw_events):
        try:
            if not isinstance(raw, dict):
                raise ValueError(_("An event is an object {location, device, seen_at?}."))
            unknown = set(raw) - {"location", "device", "seen_at"}
            if unknown:
                raise ValueError(_("Unknown fields: %s.") % ", ".join(sorted(map(str, unknown))))
            event = _Event(
                location=_location_id(raw.get("location")),
                device=normalize_device(raw.get("device")),
                seen_at=_seen_at(raw.get("seen_at"), now),
            )
        except ValueError as error:
            result.rejected.append({"index": index, "error": str(error)})
            continue
        parsed.append((index, event))
    return parsed


def ingest(raw_events: list, now: dt.datetime | None = None) -> IngestResult:
    """Take one batch of connection events (already checked to be a list of at most
    ``MAX_EVENTS``); refuse bad ones by index, keep the rest, start what reaches the
    threshold."""
    now = now or clock.now()
    result = IngestResult()
    parsed = _parse(raw_events, now, result)
    zones = dict(
        Location.objects.filter(pk__in={event.location for _i, event in parsed}).values_list(
            "pk", "timezone"
        )
    )
    events = []
    for index, event in parsed:
        if event.location not in zones:
            result.rejected.append({"index": index, "error": _("Unknown location.")})
        else:
            events.append(event)
    result.rejected.sort(key=lambda row: row["index"])
    result.accepted = len(events)
    if not events:
        return result
    with transaction.atomic():
        _add_to_daily_aggregate(events, zones)
        known, touched = _remember_pending_devices(events)
        repeats = len(events) - len({(event.location, event.device) for event in events})
        result.duplicates = repeats + known
        result.started = [license_id for license_id in sorted(touched) if _start_if_due(license_id)]
    return result


def _add_to_daily_aggregate(events: list[_Event], zones: dict) -> None:
    counts: dict[tuple, int] = defaultdict(int)
    for event in events:
        counts[event.location, local_date(event.seen_at, zones[event.location])] += 1
    table = connection.ops.quote_name(LocationDay._meta.db_table)
    # One statement per batch; the same upsert syntax on SQLite (3.24+) and PostgreSQL.
    # Only the model's own table name is formatted in: no input reaches the SQL text.
    sql = (
        f"INSERT INTO {table} (location_id, day, events) VALUES (%s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (location_id, day) DO UPDATE SET events = {table}.events + excluded.events"
    )
    location_field = LocationDay._meta.get_field("location")
    rows = [
        (location_field.get_db_prep_value(location, connection), day, count)
        for (location, day), count in sorted(counts.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _counts_from(provisioned: dt.datetime) -> dt.datetime:
    """Events count from the second of provisioning on: gateways often send whole
    seconds, and a device seen in the second of Send Key was seen after it."""
    return provisioned.replace(microsecond=0)


def _remember_pending_devices(events: list[_Event]) -> tuple[int, set[int]]:
    """Per-device rows for the licenses pending an automatic start at these locations.

    Returns how many of the batch's devices the licenses had counted already, and the
    licenses that got new or earlier devices.
    """
    pending = {
        location_id: (license_id, _counts_from(provisioned))
        for location_id, license_id, provisioned in Assignment.objects.filter(
            location__in={event.location for event in events},
            license__status=LicenseStatus.PENDING_START,
            license__start_mode=StartMode.AUTOMATIC,
        ).values_list("location_id", "license_id", "license__provisioned")
    }
    earliest: dict[tuple[int, str], tuple[dt.datetime, uuid.UUID]] = {}
    for event in events:
        if event.location not in pending:
            continue
        license_id, provisioned = pending[event.location]
        if event.seen_at < provisioned:
            continue  # before Send Key: does not count towards the start
        key = (license_id, device_key(event.device))
        if key not in earliest or event.seen_at < earliest[key][0]:
            earliest[key] = (event.seen_at, event.location)
    if not earliest:
        return 0, set()
    # the two IN lists also match a device of one license with another license: keep pairs
    stored = {
        (license_id, device): (pk, first_seen)
        for pk, license_id, device, first_seen in PendingDevice.objects.filter(
            license_id__in={license_id for license_id, _d in earliest},
            device__in={device for _l, device in earliest},
        ).values_list("pk", "license_id", "device", "first_seen")
        if (license_id, device) in earliest
    }
    new_rows, touched = [], set()
    # in one order (license, device) so concurrent intakes cannot deadlock on the index
    for (license_id, device), (seen_at, location_id) in sorted(earliest.items()):
        if (license_id, device) in stored:
            pk, first_seen = stored[license_id, device]
            # conditional update: concurrent intakes keep the earliest time
            if seen_at < first_seen and PendingDevice.objects.filter(
                pk=pk, first_seen__gt=seen_at
            ).update(first_seen=seen_at, location_id=location_id):
                touched.add(license_id)
        else:
            new_rows.append(
                PendingDevice(
                    license_id=license_id,
                    device=device,
                    location_id=location_id,
                    first_seen=seen_at,
                )
            )
            touched.add(license_id)
    PendingDevice.objects.bulk_create(new_rows, ignore_conflicts=True)
    return sum(1 for key in earliest if key in stored), touched


def _start_if_due(license_id: int) -> bool:
    """Lock the license; if still pending start with enough devices, start it."""
    license = lifecycle.lock(license_id)
    if license.status != LicenseStatus.PENDING_START or license.start_mode != StartMode.AUTOMATIC:
        return False
    threshold = settings.LICENSE_START_DEVICES
    first = list(
        PendingDevice.objects.filter(
            license_id=license_id, first_seen__gte=_counts_from(license.provisioned)
        )
        .select_related("location")
        .order_by("first_seen", "device")[:threshold]
    )
    if len(first) < threshold:
        return False
    decisive = first[-1]
    start_date = local_date(decisive.first_seen, decisive.location.timezone)
    evidence = {
        "threshold": threshold,
        "devices": [
            {
                "device": row.device,
                "location": str(row.location_id),
                "seen_at": row.first_seen.isoformat(),
            }
            for row in first
        ],
    }
    lifecycle.start(license_id, start_date, evidence=evidence)
    PendingDevice.objects.filter(license_id=license_id).delete()
    return True
