"""Timed notifier passes on a generated database; run by ``bench/run.py notices``
(bench/notices.py) in a process of its own.

Prints one JSON object: the wall time of passes with nothing due, then of one pass with
``--due`` notices due, split into deciding (the scan, the cut-offs, the outbox rows) and
delivering (e-mail to a real SMTP server, aiosmtpd, in its own process: smtp_sink.py).

"Nothing due" is measured at the generation's "now" (every notice due by then is
decided). For the pass with notices due, the clock moves forward (time-machine) to the
moment when ``--due`` scheduled notices have come due: as if the notifier had been down
until then, so some licenses also skip older notices.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")

import django

django.setup()

import time_machine  # noqa: E402
from django.conf import settings  # noqa: E402

from wlm.lib import clock  # noqa: E402
from wlm.notifications import worker  # noqa: E402
from wlm.notifications.models import Delivery, Notice, NoticeState  # noqa: E402


def peak_rss_mb() -> float:
    """The notifier's peak resident memory (its own process, as in production): VmHWM,
    which starts again at exec. (``getrusage``'s ``ru_maxrss`` survives exec: it would
    count the parent bench/run.py's memory at the fork, 160 MB after the connections
    target's bodies.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--empty-runs", type=int, default=5)
    args = parser.parse_args()

    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("smtp_sink.py"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(sink.stdout.readline().split()[1])
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port

    worker.run_pass()  # anything that came due since the generation; warms the caches
    empty = []
    for _ in range(args.empty_runs):
        began = time.perf_counter()
        result = worker.run_pass()
        empty.append(time.perf_counter() - began)
        assert not result.did_something, result

    scheduled = Notice.objects.filter(state=NoticeState.SCHEDULED).order_by("due_at")
    moment = scheduled.values_list("due_at", flat=True)[args.due - 1]
    with time_machine.travel(moment, tick=True):
        due = Notice.objects.filter(state=NoticeState.SCHEDULED, due_at__lte=clock.now())
        notices_due = due.count()
        licenses_due = due.values("license").distinct().count()
        deliveries_before = Delivery.objects.count()
        result = worker.PassResult()
        began = time.perf_counter()
        while worker.decide_due(result, set()):
            pass
        decided = time.perf_counter()
        while worker.deliver_due(result):
            pass
        delivered = time.perf_counter()
    sink.send_signal(signal.SIGTERM)
    smtp_messages = int(sink.communicate(timeout=60)[0].split()[-1])
    print(
        json.dumps(
            {
                "empty_pass_seconds": empty,
                "empty_pass_median_seconds": statistics.median(empty),
                "moved_to": moment.isoformat(),
                "notices_due": notices_due,
                "licenses_due": licenses_due,
                "notices_sent": result.sent,
                "notices_skipped": result.skipped,
                "cut_off": result.cut_off,
                "deliveries": Delivery.objects.count() - deliveries_before,
                "delivered": result.delivered,
                "failed_or_retried": result.failed + result.retried,
                "smtp_messages": smtp_messages,
                "decide_seconds": decided - began,
                "deliver_seconds": delivered - decided,
                "max_rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
