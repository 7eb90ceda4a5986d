"""The intake of device connections and the start trigger (DESIGN §4, pending_start → in_use).

``ingest`` validates each event on its own, keeps per-device rows only for licenses that
are pending start (hashed device ids, never in clear), adds every accepted event to the
location's daily aggregate, and starts each license whose distinct devices reach
``LICENSE_START_DEVICES``, through the lifecycle service, in the same transaction.

The start date is the local date of the event that reached the threshold *ordered by
``seen_at``*: each device keeps the earliest time it was seen, and the threshold-th
earliest device decides, so late and out-of-order batches give the result of ordered
ones. Exactly one start under concurrency: the license row is locked before counting.

``ingest_once`` takes a batch at most once per gateway and ``Idempotency-Key`` (24 h):
a retry gets the stored answer instead of being counted again.

Installation mode and installer devices (docs/connections.md): a location's connections
count only from its ``counting_starts`` moment (none while an open-ended installation
runs), and a partner's installer devices never count at its organizations' locations.
Every event still goes into the daily aggregate. The rule is applied where devices are
kept (``_pending_devices``: one read of the locations' fields and one of the partners'
installer devices per batch) and again under the license locks, in SQL (``counting``),
where a start is decided.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework.exceptions import APIException

from wlm.connections.models import InstallerDevice, IntakeKey, LocationDay, PendingDevice
from wlm.lib import clock
from wlm.lib.validators import normalize_mac
from wlm.licenses import lifecycle
from wlm.licenses.dates import local_date
from wlm.licenses.models import CurrentLicense, License, LicenseStatus, StartMode
from wlm.locations.models import NEVER, Location, counting_starts
from wlm.operations import metrics

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

MAX_EVENTS = 10_000
# 1-255 printable ASCII characters (space included; quotes too, for keys sent as an RFC
# 8941 string): what fits the column and is the same bytes in every header encoding.
IDEMPOTENCY_KEY = re.compile(r"[ -~]{1,255}")
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
UPSERT_ROWS = 1_000  # rows per statement: 3,000 parameters, far below SQLite's limit
PAST_LIMIT = dt.timedelta(days=366)  # a gateway's buffer, not history (and no year-1 dates)
# Looks like a MAC (hex pairs with : or -, dotted quads of hex, or 12 hex digits): must then
# be a valid one.
_MAC_LIKE = re.compile(
    r"[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2})+|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4})+|[0-9a-fA-F]{12}"
)
_MAC_CANONICAL = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}")
# An opaque id (RADIUS User-Name, a platform's device id): printable, no spaces, 1-128.
_OPAQUE = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    started: list[int] = field(default_factory=list)

    def answer(self) -> dict:
        """The API's answer (``POST /api/v1/connections/``)."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "started": self.started,
        }

    def count(self, source: str) -> None:
        """Into the metrics (``wlm_intake_events_total``, ``wlm_intake_starts_total``),
        once the batch is written; ``source``: ``api`` or ``radius``."""
        metrics.count_intake(
            source, self.accepted, self.duplicates, len(self.rejected), len(self.started)
        )


class KeyReused(APIException):
    """422: an ``Idempotency-Key`` that came with another body (a client's bug: a key
    names one batch)."""

    status_code = 422
    default_detail = _lazy(
        "This Idempotency-Key was sent before with another body: a key names one batch. "
        "Send a new batch with a new key."
    )
    default_code = "idempotency_key_reused"


def key_lifetime() -> dt.timedelta:
    """How long an idempotency key is remembered (``RETENTION_IDEMPOTENCY_HOURS``): a retry
    with the same key within it is answered, not counted again; an older key is as if
    never seen, and the notifier's retention deletes it (wlm.retention)."""
    return dt.timedelta(hours=settings.RETENTION_IDEMPOTENCY_HOURS)


def device_key(device: str, secret: bytes | None = None) -> str:
    """The keyed hash stored for a device id: HMAC-SHA256 with ``DEVICE_HASH_KEY``
    (``secret``: that key, read once by a caller hashing many devices)."""
    return hmac.digest(secret or settings.DEVICE_HASH_KEY, device.encode(), "sha256").hex()


def normalize_device(value) -> str:
    """A MAC in any usual notation becomes ``AA:BB:CC:DD:EE:FF``; other ids stay as sent."""
    if not isinstance(value, str):
        raise ValueError(_("device must be a string."))
    text = value.strip()
    if _MAC_CANONICAL.fullmatch(text):
        return text  # the usual case, already AA:BB:CC:DD:EE:FF
    if _MAC_LIKE.fullmatch(text):
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


def _location_id(value) -> str:
    """The canonical text of a location id (str keys hash faster than UUID objects)."""
    if not isinstance(value, str):
        raise ValueError(_("location must be a location id (UUID)."))
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(_("location must be a location id (UUID).")) from None


class _Event(NamedTuple):
    location: str  # canonical UUID text
    device: str
    seen_at: dt.datetime


_FIELDS = frozenset({"location", "device", "seen_at"})


def _parse(raw_events: list, now: dt.datetime, result: IngestResult) -> list[tuple[int, _Event]]:
    # Gateways repeat locations and (whole-second) times within a batch: each distinct
    # text is checked once. Only valid values are remembered; a bad one raises each time.
    locations: dict[str, str] = {}
    moments: dict[str, dt.datetime] = {}
    parsed = []

    def check_time(value):
        return _seen_at(value, now)

    for index, raw in enumerate(raw_events):
        try:
            if not isinstance(raw, dict):
                raise ValueError(_("An event is an object {location, device, seen_at?}."))
            if not _FIELDS.issuperset(raw):
                unknown = sorted(map(str, set(raw) - _FIELDS))
                raise ValueError(_("Unknown fields: %s.") % ", ".join(unknown))
            location = _checked(locations, raw.get("location"), _location_id)
            device = normalize_device(raw.get("device"))
            seen_at = raw.get("seen_at")
            seen_at = now if seen_at is None else _checked(moments, seen_at, check_time)
        except ValueError as error:
            result.rejected.append({"index": index, "error": str(error)})
            continue
        parsed.append((index, _Event(location, device, seen_at)))
    return parsed


def _checked(memo: dict, value, check):
    """``check(value)``, remembered for a text value; other types (unhashable, and
    refused anyway) are checked every time."""
    if not isinstance(value, str):
        return check(value)
    checked = memo.get(value)
    if checked is None:
        checked = memo[value] = check(value)
    return checked


def ingest(raw_events: list, now: dt.datetime | None = None) -> IngestResult:
    """Take one batch of connection events (already checked to be a list of at most
    ``MAX_EVENTS``); refuse bad ones by index, keep the rest, start what reaches the
    threshold."""
    batch = _read(raw_events, now or clock.now())
    if batch.result.accepted:
        with transaction.atomic():
            _write(batch)
    batch.result.count("api")
    return batch.result


def ingest_once(
    user: AbstractBaseUser, key: str, body: dict, now: dt.datetime | None = None
) -> tuple[dict, bool]:
    """``ingest(body["events"])`` at most once per (gateway, ``key``) in
    ``key_lifetime()``: the answer, and whether it is the stored answer of an
    earlier call with the same key and body (then nothing is counted again). The same
    key with another body raises ``KeyReused``.

    The key is claimed in the transaction that writes the batch, before its writes: a
    concurrent retry waits for that transaction (PostgreSQL: on the unique index;
    SQLite: for the one writer), then finds the key taken and replays its answer.
    """
    now = now or clock.now()
    digest = body_hash(body)
    # the reads happen before the write transaction, as in ``ingest``; a replay drops them
    batch = _read(body["events"], now)
    with transaction.atomic():
        claimed = _claim_key(user.pk, key, digest, now)
        if claimed is None:
            stored_hash, answer = (
                IntakeKey.objects.filter(user=user, key=key)
                .values_list("body_hash", "answer")
                .get()
            )
            if stored_hash != digest:
                raise KeyReused()
            return orjson.loads(answer), True  # a dict in the first answer's key order
        if batch.result.accepted:
            _write(batch)
        answer = batch.result.answer()
        IntakeKey.objects.filter(pk=claimed).update(answer=orjson.dumps(answer).decode())
    batch.result.count("api")  # a replay is not counted again
    return answer, False


def body_hash(body) -> str:
    """SHA-256 of the body as JSON with sorted keys: a retry serialised again (other key
    order or spacing) is the same batch."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _claim_key(user_id: int, key: str, digest: str, now: dt.datetime) -> int | None:
    """Insert the key's row (or take over an expired one, as if it had never been seen);
    its id, or None when a live row holds the key. One statement: ``INSERT … ON CONFLICT
    DO UPDATE … WHERE expired RETURNING id``. On PostgreSQL a concurrent insert of the
    same key waits for the first transaction, then finds its row."""
    expired = IntakeKey._meta.get_field("created").get_db_prep_value(
        now - key_lifetime(), connections[DEFAULT_DB_ALIAS]
    )
    rows = _upsert(
        IntakeKey,
        ("user", "key", "body_hash", "answer", "created"),
        [(user_id, key, digest, "", now)],
        conflict=("user", "key"),
        action="DO UPDATE SET body_hash = excluded.body_hash, answer = '', "
        "created = excluded.created WHERE {table}.created <= %s RETURNING id",
        action_params=(expired,),
    )
    return rows[0][0] if rows else None


@dataclass
class _Batch:
    """What ``_read`` found out before the write transaction, and what ``_write`` writes."""

    result: IngestResult
    days: list[tuple] = field(default_factory=list)
    devices: list[tuple] = field(default_factory=list)
    # kept devices that no longer count (their location went into installation since, or
    # they became installer devices): replaced by the batch's sightings of them
    stale: list[int] = field(default_factory=list)


class _Place(NamedTuple):
    """What the intake needs of an event's location."""

    zone: str
    counts_from: dt.datetime | None  # ``counting_starts``: installation mode
    partner: int  # whose installer devices never count here


def _read(raw_events: list, now: dt.datetime) -> _Batch:
    """Validate the events and read what the writes need (outside any transaction)."""
    result = IngestResult()
    batch = _Batch(result)
    parsed = _parse(raw_events, now, result)
    places = {
        str(pk): _Place(zone, counting_starts(since, until, counting_since), partner)
        for pk, zone, since, until, counting_since, partner in Location.objects.filter(
            pk__in={event.location for _i, event in parsed}
        ).values_list(
            "pk",
            "timezone",
            "installation_since",
            "installation_until",
            "counting_since",
            "organization__partner_id",
        )
    }
    events = []
    for index, event in parsed:
        if event.location not in places:
            result.rejected.append({"index": index, "error": _("Unknown location.")})
        else:
            events.append(event)
    result.rejected.sort(key=lambda row: row["index"])
    result.accepted = len(events)
    if not events:
        return batch
    # Reads and computing first, outside the write transaction (SQLite has one writer at
    # a time); what they read may be stale by the time it is written, and the writes
    # are made to be right anyway (upserts, a conditional update, checks under locks).
    batch.days = _daily_counts(events, {pk: place.zone for pk, place in places.items()})
    known, batch.devices, batch.stale = _pending_devices(events, places)
    repeats = len(events) - len({(event.location, event.device) for event in events})
    result.duplicates = repeats + known
    return batch


def _write(batch: _Batch) -> None:
    """The batch's writes, inside the caller's transaction; sets ``result.started``."""
    _upsert(
        LocationDay,
        ("location", "day", "events"),
        batch.days,
        conflict=("location", "day"),
        action="DO UPDATE SET events = {table}.events + excluded.events",
    )
    if batch.stale:
        # kept rows that stopped counting make way for this batch's sightings (which the
        # update below would not write over an earlier time); still not counting now
        stale = PendingDevice.objects.filter(pk__in=batch.stale)
        stale.exclude(pk__in=counting(stale).values("pk")).delete()
    # New devices, and earlier times for known ones: the conditional update keeps the
    # earliest time whatever concurrent intakes do. Rows in (license, device) order so
    # that concurrent intakes cannot deadlock on the unique index.
    _upsert(
        PendingDevice,
        ("license", "device", "location", "first_seen"),
        batch.devices,
        conflict=("license", "device"),
        action="DO UPDATE SET first_seen = excluded.first_seen, "
        "location_id = excluded.location_id WHERE excluded.first_seen < {table}.first_seen",
    )
    batch.result.started = _start_due({license_id for license_id, *_rest in batch.devices})


def _daily_counts(events: list[_Event], zones: dict) -> list[tuple]:
    """(location, local day, events) rows for the aggregate."""
    counts: dict[tuple, int] = defaultdict(int)
    days: dict[tuple, dt.date] = {}  # (zone, time) → local day: times repeat in a batch
    for event in events:
        zone = zones[event.location]
        day = days.get((zone, event.seen_at))
        if day is None:
            day = days[zone, event.seen_at] = local_date(event.seen_at, zone)
        counts[event.location, day] += 1
    return [(location, day, count) for (location, day), count in sorted(counts.items())]


def _upsert(
    model,
    fields: tuple,
    rows: list[tuple],
    conflict: tuple,
    action: str,
    action_params: tuple = (),
) -> list[tuple]:
    """``INSERT … ON CONFLICT (conflict) action`` for many rows. PostgreSQL: one statement,
    the values as one array parameter per column (``INSERT … SELECT … FROM unnest(…)``), so
    the statement's text is the same for every batch and a handful of parameters are bound,
    not three per row. SQLite: multi-row ``VALUES``, ``UPSERT_ROWS`` per statement. Values
    go through each field's ``get_db_prep_value`` as the ORM's would; only the model's own
    names and types, the placeholders and ``action`` (a constant, whose own placeholders
    take ``action_params``) are formatted into the SQL. The rows' conflict keys must be
    distinct. The rows an ``action`` ending in ``RETURNING …`` returns, of every
    statement."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the per-access proxy
    opts, quote = model._meta, db.ops.quote_name
    columns = [opts.get_field(name) for name in fields]
    names = ", ".join(quote(f.column) for f in columns)
    # names from the model's metadata; values are parameters
    head = f"INSERT INTO {quote(opts.db_table)} ({names}) "
    tail = (
        f" ON CONFLICT ({', '.join(quote(opts.get_field(name).column) for name in conflict)}) "
        + action.format(table=quote(opts.db_table))
    )
    returned: list[tuple] = []
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            if not rows:
                return returned
            arrays = ", ".join(f"%s::{field.db_type(db)}[]" for field in columns)
            cursor.execute(
                f"{head}SELECT * FROM unnest({arrays}){tail}",  # noqa: S608 (types, as names)
                [
                    [field.get_db_prep_value(value, db) for value in values]
                    for field, values in zip(columns, zip(*rows, strict=True), strict=True)
                ]
                + list(action_params),
            )
            return cursor.fetchall() if cursor.description else returned
        group = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for first in range(0, len(rows), UPSERT_ROWS):
            chunk = rows[first : first + UPSERT_ROWS]
            cursor.execute(
                head + "VALUES " + ", ".join([group] * len(chunk)) + tail,
                [
                    field.get_db_prep_value(value, db)
                    for row in chunk
                    for field, value in zip(columns, row, strict=True)
                ]
                + list(action_params),
            )
            if cursor.description:
                returned.extend(cursor.fetchall())
    return returned


def counts_from(provisioned: dt.datetime) -> dt.datetime:
    """Events count from the second of provisioning on: gateways often send whole
    seconds, and a device seen in the second of Send Key was seen after it."""
    return provisioned.replace(microsecond=0)


def counting(rows: QuerySet) -> QuerySet:
    """The ``PendingDevice`` rows of ``rows`` that count toward a start: seen at their
    location from its ``counting_starts`` moment on (installation mode), and not an
    installer device of the partner of that location's organization. The intake's rule
    (``_pending_devices``) in SQL, read where a start is decided and shown."""
    location = "location__"
    after_installation = Q(**{f"{location}installation_since__isnull": False}) & Q(
        first_seen__gte=F(f"{location}installation_until")
    )
    never_installed = Q(**{f"{location}installation_since__isnull": True}) & (
        Q(**{f"{location}counting_since__isnull": True})
        | Q(first_seen__gte=F(f"{location}counting_since"))
    )
    installer = InstallerDevice.objects.filter(
        partner_id=OuterRef(f"{location}organization__partner_id"), device=OuterRef("device")
    )
    return rows.filter(after_installation | never_installed).filter(~Exists(installer))


def installer_devices(partners: set[int]) -> dict[int, frozenset[str]]:
    """The hashed installer devices of each of ``partners`` (one query; few rows)."""
    found: dict[int, set[str]] = defaultdict(set)
    if partners:
        rows = InstallerDevice.objects.filter(partner_id__in=partners)
        for partner, device in rows.values_list("partner_id", "device"):
            found[partner].add(device)
    return {partner: frozenset(found[partner]) for partner in partners}


def _pending_devices(
    events: list[_Event], places: dict[str, _Place]
) -> tuple[int, list[tuple], list[int]]:
    """Per-device rows for the licenses pending an automatic start at these locations.

    Returns how many of the batch's devices the licenses had counted already, the
    (license, hashed device, location, first seen) rows that are new or earlier, and the
    ids of kept rows of the batch's devices that no longer count (``_Batch.stale``).
    Events that do not count (before provisioning or the location's ``counting_starts``,
    installer devices) are left out here.
    """
    # Each location's license (a pending start one is its license: active ones come first
    # and a location holds one), its status checked here: with the status in the WHERE
    # clause SQLite scans every pending license instead.
    licenses = (
        CurrentLicense.objects.filter(location__in={event.location for event in events})
        .order_by()
        .values_list(
            "location_id",
            "license_id",
            "license__provisioned",
            "license__status",
            "license__start_mode",
        )
    )
    counted: dict[str, tuple[int, dt.datetime, int]] = {}  # location → license, from, partner
    for location_id, license_id, provisioned, status, mode in licenses:
        if status != LicenseStatus.PENDING_START or mode != StartMode.AUTOMATIC:
            continue
        place = places[str(location_id)]
        start = counts_from(provisioned)  # before Send Key: does not count
        if place.counts_from is not None:
            if place.counts_from is NEVER:
                continue  # an open-ended installation: nothing counts here for now
            start = max(start, place.counts_from)
        counted[str(location_id)] = (license_id, start, place.partner)
    if not counted:
        return 0, [], []
    installers = installer_devices({partner for _l, _s, partner in counted.values()})
    pending = {
        location: (license_id, start, installers[partner])
        for location, (license_id, start, partner) in counted.items()
    }
    earliest: dict[tuple[int, str], tuple[dt.datetime, str]] = {}
    secret = settings.DEVICE_HASH_KEY
    for event in events:
        if event.location not in pending:
            continue
        license_id, start, installer = pending[event.location]
        if event.seen_at < start:
            continue  # before Send Key or the end of an installation: does not count
        device = device_key(event.device, secret)
        if device in installer:
            continue  # an installer's device never counts
        key = (license_id, device)
        if key not in earliest or event.seen_at < earliest[key][0]:
            earliest[key] = (event.seen_at, event.location)
    if not earliest:
        return 0, [], []
    # the two IN lists also match a device of one license with another license: keep pairs
    stored: dict[tuple[int, str], dt.datetime] = {}
    stale = []
    for (
        pk,
        license_id,
        device,
        first_seen,
        since,
        until,
        counting_since,
    ) in PendingDevice.objects.filter(
        license_id__in={license_id for license_id, _d in earliest},
        device__in={device for _l, device in earliest},
    ).values_list(
        "pk",
        "license_id",
        "device",
        "first_seen",
        "location__installation_since",
        "location__installation_until",
        "location__counting_since",
    ):
        if (license_id, device) not in earliest:
            continue
        starts = counting_starts(since, until, counting_since)
        if starts is not None and first_seen < starts:
            stale.append(pk)  # seen before its location's installation ended: replaced
        else:
            stored[license_id, device] = first_seen
    rows = [
        (license_id, device, location_id, seen_at)
        for (license_id, device), (seen_at, location_id) in sorted(earliest.items())
        if (license_id, device) not in stored or seen_at < stored[license_id, device]
    ]
    return sum(1 for key in earliest if key in stored), rows, stale


def _start_due(license_ids: set[int]) -> list[int]:
    """Lock the licenses that got devices (one query, in id order) and start those still
    pending an automatic start whose distinct devices reached the threshold."""
    if not license_ids:
        return []
    candidates, gone = [], []
    for license in lifecycle.lock_many(license_ids):
        if license.status == LicenseStatus.PENDING_START:
            if license.start_mode == StartMode.AUTOMATIC:
                candidates.append(license)
        elif license.status in (LicenseStatus.IN_USE, LicenseStatus.CONTRACT_FINALIZED):
            # started or ended since this intake read it: it will never need the rows
            # (a denied license keeps them: restored, it may be pending start again)
            gone.append(license.pk)
    # read under the locks: a concurrent intake's devices are committed before it releases
    # the license, so the last of two intakes sees the devices of both. Few rows: a
    # license keeps per-device rows only until it starts.
    devices = defaultdict(list)
    for row in (
        counting(PendingDevice.objects.filter(license__in=candidates))
        .order_by("license", "first_seen", "device")
        .values_list("license", "device", "location", "location__timezone", "first_seen")
    ):
        devices[row[0]].append(row)
    threshold = settings.LICENSE_START_DEVICES
    starts = []
    for license in candidates:
        counted = counts_from(license.provisioned)
        first = [row for row in devices[license.pk] if row[4] >= counted][:threshold]
        if len(first) == threshold:
            starts.append(_start(license, first))
    lifecycle.start_all(starts)  # one statement per table for the batch's starts
    started = [license.pk for license, _date, _evidence in starts]
    if started or gone:
        PendingDevice.objects.filter(license__in=started + gone).delete()
    return started


def _start(license: License, first: list[tuple]) -> tuple[License, dt.date, dict]:
    """What starts a locked license (``lifecycle.start_all``): the last of its first
    devices decides the local date, and they are the start's evidence."""
    _license, _device, _location, zone, seen_at = first[-1]
    evidence = {
        "threshold": len(first),
        "devices": [
            {"device": device, "location": str(location), "seen_at": seen_at.isoformat()}
            for _license, device, location, _zone, seen_at in first
        ],
    }
    return license, local_date(seen_at, zone), evidence
