"""The notifier's heartbeat: what ``/readyz`` reads to know a notifier is at work."""

from __future__ import annotations

import datetime as dt
import os
import socket

from django.db import transaction

from wlm.lib import clock
from wlm.operations.models import Heartbeat

# rows of notifiers that stopped beating this long ago are deleted (a notifier starting)
KEEP = dt.timedelta(days=7)


class Pulse:
    """One notifier process's heartbeat row (its host and pid): ``beat()`` at each pass,
    ``beat_if_due()`` between batches, so that a long pass still beats about once per
    ``interval`` — a beat says the notifier's loop is moving, not only that the process
    exists."""

    def __init__(self, interval: int, host: str | None = None, pid: int | None = None):
        self.interval = max(1, int(interval))
        self.host = (host or socket.gethostname())[:255]
        self.pid = pid or os.getpid()
        self.started_at = clock.now()
        self._row: int | None = None
        self._last: dt.datetime | None = None

    @transaction.atomic  # one small transaction: a failure (the database away) leaves none open
    def beat(self) -> None:
        now = clock.now()
        if self._row is None or not Heartbeat.objects.filter(pk=self._row).update(beat_at=now):
            Heartbeat.objects.filter(beat_at__lt=now - KEEP).delete()
            row, _created = Heartbeat.objects.update_or_create(
                host=self.host,
                pid=self.pid,  # a pid reused on this host: that process is gone
                defaults={"started_at": self.started_at, "beat_at": now, "interval": self.interval},
            )
            self._row = row.pk
        self._last = now

    def beat_if_due(self) -> None:
        """A beat if the last one is ``interval`` old (cheap otherwise: no query)."""
        if self._last is None or clock.now() - self._last >= dt.timedelta(seconds=self.interval):
            self.beat()
