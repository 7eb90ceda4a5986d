"""Which license a location has: the rule, and its answer stored (``CurrentLicense``).

The rule (the only copy): among the licenses assigned to the location, one in
``ACTIVE_STATUSES`` first, then the latest assignment; with none assigned, the latest
``pending_provision`` license generated for the location (``License.location``); else
none. Every reader (the entitlement and the data plane's misses, the locations list, the
connection intake) reads the stored row, never the rule; the license's status and end
date are read live from the license, so a stored choice never stands for a status.

The row also copies the license's ``status``, ``end_date`` and tenants, for the
locations list alone: it filters and sorts by them from an index (its license's end date
across the join cannot be), and passes the license's tenancy door on the row itself.
``refresh`` writes the copies with the row, and rewrites them in the transaction of
every change of them (``apply_change``, the one place that changes a status or an end
date, passes the license as ``changed``; the organization is set by Send Key, a change
of status; the distributor and partner never change); the test suite checks after
every test that they are the license's (``stale``).

``refresh`` stores the rule's answer for some locations in the transaction of a change.
``lifecycle`` calls it, from one place: ``apply_change`` (every status change and every
assignment goes through it) and ``created`` (a new license). ``refresh_all`` stores every
location's (``generate_load``, the migration that added the table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connections, router, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from wlm.lib.prepared import PreparedQuery
from wlm.licenses.models import (
    ACTIVE_STATUSES,
    Assignment,
    CurrentLicense,
    License,
    LicenseStatus,
)
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


def refresh(location_ids: Iterable, *, changed: Iterable[License] = ()) -> None:
    """Store the license of each location of ``location_ids`` (ids or rows), with its
    copies of the license's status and end date.

    ``changed``: licenses whose status or end date the caller's change moved
    (``apply_change``, or ``apply_changes`` for several): their copies are rewritten too
    on the other locations whose license they are. Each row is written once in a
    change: a second write of a row this transaction wrote queues PostgreSQL's
    (deferred) foreign key checks of the row, which at the commit would wait for a
    location an element's addition holds while it waits for this license (test_races).

    The rows (those of ``changed``'s locations too) are locked in id order first (no
    deadlock between two refreshes), and the license and its copies are then written by
    new statements: on PostgreSQL they see whatever a concurrent change of another
    license of the same location committed while this one waited for the lock, so the
    last writer stores the right answer; and a concurrent refresh that made ``changed``
    a location's license, copying it as it was before this change, is rewritten here.
    """
    ids = sorted({getattr(location, "pk", location) for location in location_ids} - {None})
    changed = list(changed)
    others = []
    if changed:
        assigned = Assignment.objects.filter(license__in=changed).values_list(
            "location_id", flat=True
        )
        own = {license.location_id for license in changed}
        others = sorted({*own, *assigned} - {None} - set(ids))
    if not ids and not others:
        return
    rows = CurrentLicense.objects.filter(location_id__in=ids)
    locking = (
        CurrentLicense.objects.filter(location_id__in=[*ids, *others])
        .select_for_update()
        .order_by("location_id")
        .values_list("pk", flat=True)
    )
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
            rows.filter(location_id=location_id).update(
                license_id=license_id, **_facts_of(License.objects.filter(pk=license_id))
            )
        if others:  # where one of ``changed`` is the license, its new (saved) status and end date
            # (not its tenants: Send Key, which sets the organization, moves the license
            # among its locations' licenses, so those rows are in ``ids``)
            CurrentLicense.objects.filter(location_id__in=others, license__in=changed).update(
                **_facts_of(License.objects.filter(pk=OuterRef("license")), ("status", "end_date"))
            )


# the license's columns a row copies (NULL without a license)
COPIES = ("status", "end_date", "distributor_id", "partner_id", "organization_id")


def _facts_of(license_rows, names=COPIES) -> dict:
    """The copies (``names``) of a license's status, end date and tenants: subqueries of
    ``license_rows`` (one license, or an ``OuterRef``), read by the statement that writes
    them."""
    return {name: Subquery(license_rows.values(name)[:1]) for name in names}


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
    if _has_copies():
        refresh_copies()


def refresh_copies(rows=None) -> None:
    """Rewrite the copies of their license's status, end date and tenants on ``rows``
    (``CurrentLicense`` rows; all by default), for licenses changed in bulk past the
    services (``generate_load``, the benchmarks' tenant split)."""
    rows = CurrentLicense.objects.all() if rows is None else rows
    rows.update(**_facts_of(License.objects.filter(pk=OuterRef("license"))))


def _has_copies() -> bool:
    """Whether the table has the copies' columns yet: the migration that added the table
    (licenses 0005) calls ``refresh_all`` before 0011 and 0015 added them (each fills
    its own)."""
    connection = connections[router.db_for_write(CurrentLicense)]
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, CurrentLicense._meta.db_table
        )
    return set(COPIES) <= {column.name for column in columns}


def stale() -> list:
    """Locations whose stored license is not the rule's answer, as ``(location id, rule's
    license id, stored license id)`` (0 for none), then rows whose copies of the status
    and end date are not their license's, as ``(location id, the license's (status, end
    date), the stored ones)``; the tests assert there are none."""
    locations = Location.objects.annotate(
        rule=Coalesce(_license_of(), 0), stored=Coalesce(F("current__license"), 0)
    )
    wrong = list(locations.exclude(rule=F("stored")).values_list("pk", "rule", "stored"))
    copies = CurrentLicense.objects.values_list(
        "location_id", *(f"license__{name}" for name in COPIES), *COPIES
    )
    for location_id, *values in copies:
        license, stored = tuple(values[: len(COPIES)]), tuple(values[len(COPIES) :])
        if license != stored:
            wrong.append((location_id, license, stored))
    return wrong
