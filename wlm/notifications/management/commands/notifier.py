"""``manage.py notifier``: the worker — fixed starts, expiry notices with their cut-offs,
deliveries (wlm.notifications.worker) — in a loop until SIGTERM or SIGINT; after each
pass, the retention (``wlm.retention``: what is past its keeping in every app's tables,
in small batches) and the licenses list's bulk jobs (``wlm.licenses.bulk``: after each
pass, and within ``BULK_POLL`` seconds of being made while the notifier waits).

- ``--once``: one full pass, then exit (cron, tests); exit status 1 if it failed.
- ``--interval N``: seconds between passes (``NOTIFIER_INTERVAL``, default 60).
- A stop signal is honoured between batches: the pass ends at the next batch boundary,
  nothing half-done is left (every batch is its own transaction).
- Database connections are closed after each pass and before the next (none is held
  while the worker sleeps; one that broke meanwhile is not reused).
- A heartbeat (``wlm.operations.services.Pulse``: a row per process, its host and pid)
  at the start of each pass and between batches at most once per interval: ``/readyz``
  reads it. Passes and their database errors are counted in the metrics.
- Crash loops: after a failed pass the wait doubles (up to 10 minutes); after
  ``--max-failures`` failed passes in a row the command exits with status 1, so that a
  supervisor sees it instead of a worker that silently does nothing.
- The database away (``wlm.lib.database``: no connection, the connection lost) is not a
  crash: the notifier logs it once, tries again after 1, 2, 4… seconds (never longer
  than ``--interval``) and goes on when the database answers — however long that takes,
  without exiting (``--once`` still fails). Every batch is its own transaction, so a
  pass cut by the outage leaves nothing half-done.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from wlm.lib import clock
from wlm.lib.database import AWAY
from wlm.licenses import bulk
from wlm.notifications import worker
from wlm.operations import metrics
from wlm.operations.services import Pulse
from wlm.retention import services as retention

log = logging.getLogger("wlm.notifier")
MAX_WAIT = 600
AWAY_FIRST_WAIT = 1  # seconds before the first try after the database went away; doubles
BULK_POLL = 2  # seconds: how soon a waiting notifier starts a bulk job made meanwhile
BULK_SLICE = 30  # seconds of bulk work at a time: a big job does not hold back cut-offs


def _close_connections() -> None:
    """No connection is kept while the worker sleeps, and a broken one is not reused.
    (A connection inside a transaction — a test's — is left alone.)"""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


class Command(BaseCommand):
    help = "Send expiry notices, apply cut-offs and fixed starts, deliver the outbox."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One full pass, then exit.")
        parser.add_argument("--interval", type=int, default=None, help="Seconds between passes.")
        parser.add_argument(
            "--max-failures", type=int, default=10, help="Failed passes in a row before exiting."
        )

    def handle(self, *args, once=False, interval=None, max_failures=10, **options):
        interval = interval if interval is not None else settings.NOTIFIER_INTERVAL
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGINT):
                previous[number] = signal.signal(number, lambda *_: stop.set())
        try:
            self._loop(stop, once, interval, max_failures)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _loop(self, stop: threading.Event, once: bool, interval: int, max_failures: int):
        failures = away = 0  # failed passes in a row; passes in a row without a database
        pulse = Pulse(interval)

        def stopping() -> bool:
            """Asked between batches: also the heartbeat of a long pass."""
            pulse.beat_if_due()
            return stop.is_set()

        while not stop.is_set():
            _close_connections()
            try:
                pulse.beat()
                result = worker.run_pass(stop=stopping)
                self._retention(stopping)
                self._bulk(stopping)
            except AWAY as error:
                if once:
                    raise CommandError(f"notifier pass failed: {error}") from error
                if not away:
                    log.warning(
                        "notifier: the database cannot be reached (%s); waiting for it",
                        str(error).strip(),
                    )
                away += 1
                metrics.NOTIFIER_PASSES.labels("failed").inc()
                metrics.database_error(error, "notifier")
            except Exception as error:
                failures += 1
                metrics.NOTIFIER_PASSES.labels("failed").inc()
                metrics.database_error(error, "notifier")
                log.exception("notifier pass failed (%d in a row)", failures)
                if once or failures >= max_failures:
                    raise CommandError(f"notifier pass failed: {error}") from error
            else:
                if away:
                    log.warning("notifier: the database answers again")
                failures = away = 0
                metrics.NOTIFIER_PASSES.labels("ok").inc()
                if once or result.did_something:
                    self.stdout.write(f"{clock.now():%Y-%m-%d %H:%M:%S} {result}")
            finally:
                _close_connections()
            if once:
                return
            if away:
                wait = min(AWAY_FIRST_WAIT * 2 ** (away - 1), interval)
            elif failures:
                wait = min(interval * 2**failures, MAX_WAIT)
            else:
                wait = interval
            self._rest(stop, wait, poll_bulk=not away)
        self.stdout.write("notifier stopped")

    def _retention(self, stop: Callable[[], bool]) -> None:
        """What is past its keeping, a few small batches of each kind (wlm.retention)."""
        deleted = retention.enforce(stop=stop)
        if deleted:
            counts = ", ".join(f"{kind} {count}" for kind, count in deleted.items())
            self.stdout.write(f"{clock.now():%Y-%m-%d %H:%M:%S} retention: deleted {counts}")

    def _bulk(self, stop: Callable[[], bool]) -> None:
        """The bulk jobs of the licenses list (wlm.licenses.bulk), item by item (each its
        own transaction), by ``BULK_WORKERS`` workers on PostgreSQL, until none is left,
        a stop signal comes or ``BULK_SLICE`` has passed: the rest of a big job goes on
        while the notifier waits for its next pass."""
        worked = bulk.work_together(stop, seconds=BULK_SLICE)
        if worked:
            self.stdout.write(f"{clock.now():%Y-%m-%d %H:%M:%S} bulk: {worked} licenses")

    def _rest(self, stop: threading.Event, seconds: float, poll_bulk: bool = True) -> None:
        """Wait ``seconds`` for the next pass; a bulk job made meanwhile is started within
        ``BULK_POLL`` seconds (someone is watching its progress), not at the next pass
        (``poll_bulk``: not while the database is away). A failure there is logged and left
        to the next pass (its items stay pending)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(BULK_POLL, left)):
                return
            if not poll_bulk:
                continue
            try:
                if bulk.pending():
                    self._bulk(stop.is_set)
            except Exception:
                log.exception("bulk work between passes failed")
            finally:
                _close_connections()
