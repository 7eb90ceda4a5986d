"""Each location's license, stored (``CurrentLicense``) and kept in step with the rule.

The rule is ``queries.current_license_id`` (the same choice as the entitlement): which
license a location shows depends on its assignments and on their licenses' statuses,
and, with none assigned, on the licenses intended for it. ``refresh`` recomputes it, with
that query, for the locations a change touches, in the change's own transaction: the
lifecycle calls it when a status or an assignment changes, the services when a license
is generated; ``refresh_all`` stores every location's (``generate_load``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from wlm.lib.prepared import PreparedQuery
from wlm.licenses.models import CurrentLicense
from wlm.licenses.queries import current_license_id
from wlm.locations.models import Location

# The rule for one location, compiled once: building that queryset costs ~1.4 ms, running
# it ~0.04 ms (SQLite), and the connection intake starts licenses by the thousand.
_RULE = PreparedQuery(
    lambda location: Location.objects.filter(pk=location).values_list(current_license_id("pk")),
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
    CurrentLicense.objects.update(license=current_license_id("location"))


def stale() -> list:
    """Locations whose stored license is not the rule's answer, as ``(location id, rule's
    license id, stored license id)`` (0 for none); the tests assert there are none."""
    locations = Location.objects.annotate(
        rule=Coalesce(current_license_id(), 0), stored=Coalesce(F("current__license"), 0)
    )
    return list(locations.exclude(rule=F("stored")).values_list("pk", "rule", "stored"))
