"""Per-process entitlement facts, read once and dropped when the change log names them.

``Entitlements.facts(location_id)`` answers from memory; a location not in memory is
read with the same function as the Django view (``entitlement.facts_of``). The rule is
applied at call time by the caller (``Facts.at(now)``), so the cut-off stays exact to the
second whatever the cache holds.

Every ``refresh_every`` seconds (0.25) a call first reads the change log
(``dataplane_change``, written by triggers) for rows it has not seen and drops the
locations they touch: a deny, restore, renewal, upgrade, assignment or a new access point
is seen by every process within that interval plus one request. The same holds for the
RADIUS lookup of an access point's location (``location_of``). What "not seen" means:

- SQLite serialises writers, so row ids commit in order: rows with ``id`` above the
  largest seen.
- PostgreSQL commits in any order, so ids are not enough. Each row carries its writer's
  transaction id; a refresh first reads the oldest transaction still running
  (``pg_snapshot_xmin``) and then the rows of transactions from the previous refresh's
  oldest on: a transaction that commits later has an id at or above that mark, whatever
  its row id. A row may be read twice (dropping twice is harmless); none is missed.

A process that has not refreshed for ``stale_after`` seconds (the log keeps an hour)
forgets everything. The memory stays bounded: past ``max_entries`` the oldest entries
go first. Each look-up is counted, a hit or a miss (``wlm_lean_cache_lookups_total``).

While the database is away (``Outage``; docs/dataplane.md, "When the database is away")
the process answers from what it holds, for ``grace`` seconds after its last refresh,
and tries the database again at most every ``retry_every`` seconds; what it does not hold
is ``Unavailable``. The first refresh after an outage reads the log as a first read does
and forgets everything: the log cannot vouch for the time it could not be read (a
failover may even have lost the last transactions the process saw).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection

from wlm.dataplane.radius import location_of
from wlm.lib.database import AWAY, drop_connection
from wlm.licenses.entitlement import Facts, facts_of
from wlm.licenses.models import Assignment, License
from wlm.locations.models import Location
from wlm.operations.metrics import ACCESS_POINT_HIT, ACCESS_POINT_MISS, FACTS_HIT, FACTS_MISS

# past this many changed rows in one refresh, forgetting everything is cheaper
MAX_CHANGES = 5_000
RETRY_EVERY = 1.0  # seconds between a process's attempts to reach a database that is away

log = logging.getLogger("wlm.dataplane")


class Unavailable(Exception):
    """The database is away and the process does not hold the answer (the front's 503)."""


class Outage:
    """The database as one server process sees it: reached, or away since a moment (of
    the process's monotonic clock). While it is away the process tries it again at most
    every ``retry_every`` seconds — a request meanwhile does not wait for a connection
    that is refused or times out — and answers from what it knew, for ``grace`` seconds
    after it last reached the database (``settings.DATAPLANE_OUTAGE_GRACE``).

    ``number`` counts the outages: the caches compare it with the one of their last
    read, so an outage that anyone in the process saw makes them read afresh."""

    def __init__(self, *, grace: float, retry_every: float = RETRY_EVERY) -> None:
        self.grace = grace
        self.retry_every = retry_every
        self.since: float | None = None
        self.number = 0
        self._retry_at = float("-inf")

    @property
    def away(self) -> bool:
        return self.since is not None

    def may_try(self, now: float) -> bool:
        return now >= self._retry_at

    def failed(self, now: float, error: BaseException) -> None:
        """The database did not answer: drop the connection, wait before the next try;
        logged once per outage."""
        drop_connection()
        self._retry_at = now + self.retry_every
        if self.since is None:
            self.since = now
            self.number += 1
            log.warning(
                "The database cannot be reached (%s): the data plane answers from what this "
                "process holds for up to %d s and tries again every %g s",
                str(error).strip(),
                self.grace,
                self.retry_every,
            )

    def reached(self, now: float) -> None:
        if self.since is not None:
            log.warning("The database answers again after %.1f s", now - self.since)
            self.since = None
            self._retry_at = float("-inf")


class Entitlements:
    def __init__(
        self,
        *,
        refresh_every: float = 0.25,
        stale_after: float = 60.0,
        max_entries: int = 200_000,
        grace: float | None = None,
        retry_every: float = RETRY_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_every = refresh_every
        self.stale_after = stale_after
        self.max_entries = max_entries
        self.monotonic = monotonic  # tests move it; time-machine does not
        if grace is None:
            grace = settings.DATAPLANE_OUTAGE_GRACE
        self.outage = Outage(grace=grace, retry_every=retry_every)
        self._facts: dict[str, Facts] = {}
        self._stations: dict[str, str | None] = {}  # an AP's MAC: its location, or None
        self._mark: int | None = None  # None: the log has not been read yet
        self._outages = 0  # ``outage.number`` at the last read of the log
        self._refreshed = float("-inf")
        self._lock = threading.Lock()

    def facts(self, location_id: uuid.UUID) -> Facts | None:
        """The location's facts; None if there is no such location. ``Unavailable``
        when the database is away and the process does not hold them."""
        key = str(location_id)
        with self._lock:
            self._refresh_if_due()
            found = self._facts.get(key)
            if found is None:
                FACTS_MISS.inc()
                found = self._read(facts_of, location_id)
                if found is None:
                    return None
                if len(self._facts) >= self.max_entries:
                    del self._facts[next(iter(self._facts))]
                self._facts[key] = found
            else:
                FACTS_HIT.inc()
            return found

    def location_of(self, mac: str) -> str | None:
        """The id of the location where the access point ``mac`` is registered (RADIUS),
        None if none: kept like the facts (a new, moved or removed access point is a
        change of its location; an unknown MAC is asked again after any change).
        ``Unavailable`` as ``facts``."""
        with self._lock:
            self._refresh_if_due()
            if mac in self._stations:
                ACCESS_POINT_HIT.inc()
                return self._stations[mac]
            ACCESS_POINT_MISS.inc()
            found = self._read(location_of, mac)
            if len(self._stations) >= self.max_entries:
                del self._stations[next(iter(self._stations))]
            self._stations[mac] = found
            return found

    def clear(self) -> None:
        with self._lock:
            self._forget()

    def __len__(self) -> int:
        return len(self._facts)

    def _read(self, read: Callable, key):
        """``read(key)`` from the database, unless it is away."""
        now = self.monotonic()
        if self.outage.away and not self.outage.may_try(now):
            raise Unavailable
        try:
            return read(key)
        except AWAY as error:
            self.outage.failed(now, error)
            raise Unavailable from error

    def _forget(self) -> None:
        self._facts.clear()
        self._stations.clear()
        self._mark = None

    # --- the change log ------------------------------------------------------------

    def _refresh_if_due(self) -> None:
        now = self.monotonic()
        if now - self._refreshed < self.refresh_every:
            return
        if self.outage.away and not self.outage.may_try(now):
            self._forget_past_grace(now)
            return
        afresh = (
            self._mark is None
            or self._outages != self.outage.number  # the log cannot vouch for an outage
            or now - self._refreshed > self.stale_after
        )
        try:
            changes, mark = self._read_log(None if afresh else self._mark)
            touched = self._touched(changes) if changes else set()
        except AWAY as error:
            self.outage.failed(now, error)
            self._forget_past_grace(now)
            return
        self.outage.reached(now)
        self._refreshed, self._mark, self._outages = now, mark, self.outage.number
        if changes is None:  # first read, or too many to sort out
            self._facts.clear()
            self._stations.clear()
        elif changes:
            for key in touched:
                self._facts.pop(key, None)
            self._stations = {
                mac: location
                for mac, location in self._stations.items()
                if location is not None and location not in touched
            }

    def _forget_past_grace(self, now: float) -> None:
        """While the database is away: what was last confirmed longer than the grace
        ago is forgotten (and then ``Unavailable``)."""
        if now - self._refreshed > self.outage.grace:
            self._forget()

    def _read_log(self, mark: int | None) -> tuple[list | None, int]:
        """(changes since ``mark``, the next mark); changes is None when everything must
        be forgotten."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                (next_mark,) = cursor.fetchone()
                where = "xid >= %s"
            else:
                cursor.execute("SELECT COALESCE(MAX(id), 0) FROM dataplane_change")
                (next_mark,) = cursor.fetchone()
                where = "id > %s"
            if mark is None:
                return None, next_mark
            cursor.execute(
                f"SELECT license_id, location_id FROM dataplane_change WHERE {where} LIMIT %s",  # noqa: S608 (constant)
                [mark, MAX_CHANGES + 1],
            )
            rows = cursor.fetchall()
        if len(rows) > MAX_CHANGES:
            return None, next_mark
        return rows, next_mark

    def _touched(self, changes: Iterable[tuple]) -> set[str]:
        """The locations whose entitlement a change may alter: those it names, those of
        the licenses it names, and every location sharing a license with those (the
        access points and rooms "used" count over all of a license's locations)."""
        field = Location._meta.pk
        licenses = {license for license, _location in changes if license is not None}
        locations = {
            field.to_python(location) for _license, location in changes if location is not None
        }
        if locations:
            licenses |= set(
                Assignment.objects.filter(location__in=locations).values_list(
                    "license_id", flat=True
                )
            )
        if licenses:
            locations |= set(
                Assignment.objects.filter(license__in=licenses).values_list(
                    "location_id", flat=True
                )
            )
            locations |= set(
                License.objects.filter(pk__in=licenses, location__isnull=False).values_list(
                    "location_id", flat=True
                )
            )
        return {str(location) for location in locations}
