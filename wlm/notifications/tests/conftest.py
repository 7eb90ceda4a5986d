"""A license in use at the Madrid hotel whose cycle ends on END (see ``in_use``)."""

import datetime as dt
import threading

import pytest
import time_machine

from wlm.conftest import provisioned_license
from wlm.licenses import lifecycle
from wlm.notifications import worker
from wlm.notifications.tests.hooks import HookHandler, HookRecorder, HookServer

MADRID = dt.timezone(dt.timedelta(hours=2))  # CEST, the summer offset of Europe/Madrid
START = dt.date(2026, 7, 1)
END = dt.date(2027, 7, 1)  # one year later: notices on 06-01, 06-16, 06-24, 06-30, 07-01, 07-02
# the local day of each notice of the END cycle
DUE_DAYS = {
    1: dt.date(2027, 6, 1),
    2: dt.date(2027, 6, 16),
    3: dt.date(2027, 6, 24),
    4: dt.date(2027, 6, 30),
    5: dt.date(2027, 7, 1),
    6: dt.date(2027, 7, 2),
}
SENT_AT = dt.datetime(2026, 6, 20, 10, 0, tzinfo=dt.UTC)  # request, approval, Send Key


def local_midnight(day: dt.date) -> dt.datetime:
    """00:00 in Madrid in summer (all of this cycle's notice days are in CEST)."""
    return dt.datetime.combine(day, dt.time(), MADRID)


def make_in_use(world, *, start=START, years=1, location=None):
    license = provisioned_license(world, location or world.hotel, SENT_AT, years=years)
    with time_machine.travel(SENT_AT, tick=False):
        return lifecycle.start(license.pk, start, evidence={"source": "test"})


@pytest.fixture
def in_use(world):
    return make_in_use(world)


@pytest.fixture
def run_at():
    """``run_at(moment)``: one notifier pass with the clock at ``moment``."""

    def run(moment: dt.datetime) -> worker.PassResult:
        with time_machine.travel(moment, tick=False):
            return worker.run_pass()

    return run


@pytest.fixture
def private_webhooks(settings):
    """Webhooks to 127.0.0.1 (the test servers): refused unless explicitly allowed."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def hooks(private_webhooks):
    """A real HTTP server on 127.0.0.1 that records every request it gets (webhooks to
    private addresses allowed)."""
    server = HookServer(("127.0.0.1", 0), HookHandler)
    server.recorder = HookRecorder(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.recorder
    server.shutdown()
    server.server_close()
    thread.join()
