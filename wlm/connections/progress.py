"""How far licenses pending an automatic start are from starting (the license view, the
dashboard), counted by the intake's own rule (``services._start_due``): the distinct
devices the intake keeps for the license (``PendingDevice``: one row per hashed device,
with the earliest time it was seen at one of the license's locations), seen from the
second of provisioning on (``services.counts_from``) and that count there
(``services.counting``: installation mode, installer devices), against
``settings.LICENSE_START_DEVICES``. The intake starts the license in the transaction that
brings it to the threshold, so a pending license shows at most ``needed - 1``.

A core module (not ``queries.py``, an interface): the license view, an interface of a
lower app, may import it (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Max, QuerySet

from wlm.connections.models import PendingDevice
from wlm.connections.services import counting, counts_from


@dataclass(frozen=True)
class StartProgress:
    """Devices counted towards a license's automatic start.

    ``seen``: distinct devices counted; ``needed``: the threshold
    (``LICENSE_START_DEVICES``); ``last_seen``: when the latest of the counted devices
    was first seen (None before any)."""

    seen: int
    needed: int
    last_seen: dt.datetime | None

    @property
    def missing(self) -> int:
        """Devices still to be seen before the license starts."""
        return max(self.needed - self.seen, 0)


def start_progress(license_ids: Iterable[int]) -> dict[int, StartProgress]:
    """Each license's ``StartProgress``; every id asked gets one (``seen=0`` for a
    license without counted devices: none seen yet, a fixed start, or started, since the
    intake deletes the rows when it starts a license). One query over few rows: a
    license keeps per-device rows only until it starts."""
    ids = {int(pk) for pk in license_ids}
    needed = settings.LICENSE_START_DEVICES
    seen = dict.fromkeys(ids, 0)
    last: dict[int, dt.datetime | None] = dict.fromkeys(ids)
    if ids:
        rows = counting(PendingDevice.objects.filter(license_id__in=ids)).values_list(
            "license_id", "first_seen", "license__provisioned"
        )
        for license_id, first_seen, provisioned in rows:
            # the intake's test, as ``_start_due`` makes it before starting
            if provisioned is None or first_seen < counts_from(provisioned):
                continue
            seen[license_id] += 1
            if last[license_id] is None or first_seen > last[license_id]:
                last[license_id] = first_seen
    return {pk: StartProgress(seen[pk], needed, last[pk]) for pk in ids}


def closest_to_start(licenses: QuerySet, rows: int) -> list[int]:
    """Up to ``rows`` ids of ``licenses`` (a queryset of licenses: the caller's visible,
    pending start ones) that have devices seen, most devices first, then the most
    recent device first: the ranking of the dashboard. The intake writes a row only for
    a device seen after provisioning (``_pending_devices``) and the rows that count are
    those of ``counting``, so counting them ranks as ``start_progress`` counts; the
    figures shown come from ``start_progress``. One grouped query over the rows of those
    licenses (bounded: fewer than the threshold per license)."""
    ranked = (
        counting(PendingDevice.objects.filter(license__in=licenses.order_by().values("pk")))
        .values("license_id")
        .annotate(devices=Count("pk"), latest=Max("first_seen"))
        .order_by("-devices", "-latest", "license_id")
        .values_list("license_id", flat=True)
    )
    return list(ranked[:rows])
