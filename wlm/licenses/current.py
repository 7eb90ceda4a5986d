"""Which license a location has: the rule, and its answer stored (``CurrentLicense``).

The rule (the only copy): among the licenses assigned to the location, one in
``ACTIVE_STATUSES`` first, then the latest assignment; with none assigned, the latest
``pending_provision`` license generated for the location (``License.location``); else
none. Every reader (the entitlement and the data plane's misses, the locations list, the
connection intake) reads the stored row, never the rule; the license's status and end
date are read live from the license, so a stored choice never stands for a status.

``refresh`` stores the rule's answer for some locations in the transaction of a change.
``lifecycle`` calls it, from one place: ``apply_change`` (every status change and every
assignment goes through it) and ``created`` (a new license). ``refresh_all`` stores every
location's (``generate_load``, the migration that added the table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from wlm.lib.prepared import PreparedQuery
from wlm.licenses.models import ACTIVE_STATUSES, CurrentLicense, License, LicenseStatus
from wlm.locations.models import Location


def _license_of(location_ref="pk"):
    """The rule's answer as a subquery expression: the id of the location's license, or
    NULL. ``location_ref`` names the outer location's id (``"pk"`` on a ``Location``
    queryset, ``"location"`` on a row that points at one)."""
    location = OuterRef(location_ref)
    assigned = (
        License.objects.filter(assignments__location=location)
        .annotate(
            active=Case(
                When(status__in=ACTIVE_STATUSES, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-active", "-assignments__created", "-pk")
        .values("pk")[:1]
    )
    pending = (
        License.objects.filter(location=location, status=LicenseStatus.PENDING_PROVISION)
        .order_by("-created", "-pk")
        .values("pk")[:1]
    )
    return Coalesce(Subquery(assigned), Subquery(pending))


def moves(before: str, after: str) -> bool:
    """Whether a license going from status ``before`` to ``after`` may change its
    locations' licenses: all the rule reads of a status is whether it is active and
    whether it is ``pending_provision``. A start, a denial and most restores keep both
    (the connection intake starts licenses by the thousand: refreshing on every start
    cost it ~20%)."""

    def rank(status):
        return status in ACTIVE_STATUSES, status == LicenseStatus.PENDING_PROVISION

    return rank(before) != rank(after)


# The rule for one location, compiled once: building that queryset costs ~1.4 ms, running
# it ~0.04 ms (SQLite), and the connection intake starts licenses by the thousand.
_RULE = PreparedQuery(
    lambda location: Location.objects.filter(pk=location).values_list(_license_of()),
    Location._meta.pk,
    uuid.UUID(int=0),
)


def refresh(location_ids: Iterable) -> None:
    """Store the license of each location of ``location_ids`` (ids or rows).

    The rows are locked in id order first (no deadlock between two refreshes), and the
    license is then computed by new statements: on PostgreSQL that statement sees
    whatever a concurrent change of another license of the same location committed
    while this one waited for the lock, so the last writer stores the right answer.
    """
    ids = sorted({getattr(location, "pk", location) for location in location_ids} - {None})
    if not ids:
        return
    rows = CurrentLicense.objects.filter(location_id__in=ids)
    locking = rows.select_for_update().order_by("location_id").values_list("pk", flat=True)
    with transaction.atomic(savepoint=False):  # the caller's transaction, or its own
        missing = set(ids) - set(locking)
        if missing:  # a location's first license: its row, then its lock
            CurrentLicense.objects.bulk_create(
                [CurrentLicense(location_id=location_id) for location_id in sorted(missing)],
                ignore_conflicts=True,  # written meanwhile by another transaction: its row
            )
            list(locking.filter(location_id__in=missing))
        for location_id in ids:
            [(license_id,)] = _RULE.rows(location_id)
            rows.filter(location_id=location_id).update(license_id=license_id)


def refresh_all() -> None:
    """Every location: the migration that added the table, and ``generate_load``'s
    rows (written in bulk, past the services)."""
    missing = Location.objects.filter(current__isnull=True).values_list("pk", flat=True)
    CurrentLicense.objects.bulk_create(
        [CurrentLicense(location_id=location_id) for location_id in missing.iterator()],
        batch_size=5000,
        ignore_conflicts=True,
    )
    CurrentLicense.objects.update(license=_license_of("location"))


def stale() -> list:
    """Locations whose stored license is not the rule's answer, as ``(location id, rule's
    license id, stored license id)`` (0 for none); the tests assert there are none."""
    locations = Location.objects.annotate(
        rule=Coalesce(_license_of(), 0), stored=Coalesce(F("current__license"), 0)
    )
    return list(locations.exclude(rule=F("stored")).values_list("pk", "rule", "stored"))
