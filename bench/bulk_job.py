"""A timed bulk renewal on a generated database; run by ``bench/run.py bulk``
(bench/bulk.py) in a process of its own.

Prints one JSON object. The renewal is asked for and worked as the product does it: a
distributor's administrator confirms ``--licenses`` renewable licenses
(``bulk.create_job``, what the confirming request and the API store), then the notifier
works the job (``manage.py notifier``'s ``_bulk``: ``bulk.work`` in slices of
``BULK_SLICE`` seconds) until no item is pending; the waits between slices are not
counted (a notifier with nothing else to do starts the next within ``BULK_POLL``).

Before the job, each chosen license gets the signed token the lifecycle keeps for every
license (``generate_load`` writes rows past the lifecycle, without one), so a renewal
replaces a token as in production. Every statement is counted, the other workers'
too (a wrapper on each connection: no copy of the SQL kept). When the job misses
``--goal`` seconds, or with ``--profile``, a second job of ``PROFILED`` of the same
licenses (renewed again) runs under cProfile by one worker, not counted in the time.
"""

import argparse
import cProfile
import io
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")

import django  # noqa: E402
from common import cprofile_summary  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from wlm.lib import clock  # noqa: E402
from wlm.licenses import bulk, signing, tokens  # noqa: E402
from wlm.licenses.models import (  # noqa: E402
    BulkJobItem,
    BulkJobState,
    EventKind,
    License,
    LicenseEvent,
    SignedLicense,
)
from wlm.licenses.models import LicenseStatus as S  # noqa: E402
from wlm.notifications.management.commands import notifier  # noqa: E402
from wlm.tenancy.models import Distributor, Membership, Role, TenantType  # noqa: E402

PROFILED = 500  # licenses of the profiled job
PROFILE_TOP = 15
RENEWABLE = (S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED)


def distributor_admin():
    """The generated distributor's administrator (generate_load makes no people)."""
    user = get_user_model().objects.create_user("bench-bulk", password=None)
    Membership.objects.create(
        user=user,
        tenant_type=TenantType.DISTRIBUTOR,
        distributor=Distributor.objects.get(name="Load Distribution"),
        role=Role.ADMIN,
    )
    return user


def sign_tokens(ids: list[int]) -> None:
    """Each license's first signed token, as ``lifecycle.created`` issues it."""
    now = clock.now()
    for start in range(0, len(ids), 1000):
        rows = License.objects.filter(pk__in=ids[start : start + 1000]).select_related(
            "distributor", "partner", "organization", "location"
        )
        SignedLicense.objects.bulk_create(
            [
                SignedLicense(
                    license=license,
                    token=signing.sign(
                        {
                            "iss": django.conf.settings.PUBLIC_URL,
                            "iat": int(now.timestamp()),
                            "lic": tokens.terms(license),
                        }
                    ),
                    issued=now,
                )
                for license in rows
            ],
            ignore_conflicts=True,
        )


class Statements:
    """Counts the statements run on this thread's connection and on every connection
    opened after it (the notifier's other bulk workers, threads with their own):
    an execute wrapper on each."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)

    def on_new_connection(self, sender, connection, **kwargs):
        connection.execute_wrappers.append(self)


def run_as_the_notifier(job) -> list[float]:
    """The notifier's ``_bulk`` until the job has no pending item: each slice's seconds."""
    command = notifier.Command(stdout=io.StringIO())
    slices = []
    while bulk.pending(job.pk):
        began = time.perf_counter()
        command._bulk(lambda: False)
        slices.append(time.perf_counter() - began)
    return slices


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--licenses", type=int, default=5000)
    parser.add_argument("--goal", type=float, default=60, help="Seconds; profiled when missed.")
    parser.add_argument("--profile", action="store_true", help="Profile even if the goal is met.")
    args = parser.parse_args()

    user = distributor_admin()
    ids = list(
        License.objects.filter(status__in=RENEWABLE, end_date__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.licenses]
    )
    if len(ids) < args.licenses:
        raise SystemExit(f"only {len(ids)} renewable licenses: generate more locations")
    statuses = Counter(
        License.objects.filter(status__in=RENEWABLE, end_date__isnull=False)
        .order_by("pk")
        .values_list("status", flat=True)[: args.licenses]
    )
    sign_tokens(ids)

    counter = Statements()
    connection_created.connect(counter.on_new_connection)
    with connection.execute_wrapper(counter):
        began, cpu = time.perf_counter(), time.process_time()
        job = bulk.create_job(user, "renew", ids, years=1)
        created, asked = time.perf_counter(), counter.count
        slices = run_as_the_notifier(job)
        finished, cpu = time.perf_counter(), time.process_time() - cpu
    connection_created.disconnect(counter.on_new_connection)
    job.refresh_from_db()
    items = BulkJobItem.objects.filter(job=job).values("license_id")
    renewed = LicenseEvent.objects.filter(kind=EventKind.RENEWED, license_id__in=items).count()
    expected = (BulkJobState.FINISHED, len(ids), 0, len(ids))
    if (job.state, job.done, job.refused, renewed) != expected:
        raise SystemExit(
            f"the job did not renew every license once: {job.state}, done {job.done}, "
            f"refused {job.refused}, {renewed} renewal events"
        )

    profile = ""
    if args.profile or finished - began >= args.goal:
        again = bulk.create_job(user, "renew", ids[:PROFILED], years=1)
        profiler = cProfile.Profile()
        # one worker: cProfile sees this thread only, and one renewal's time is the question
        with override_settings(BULK_WORKERS=1):
            profiler.enable()
            run_as_the_notifier(again)
            profiler.disable()
        profile = (
            f"cProfile of a bulk renewal of {PROFILED:,} licenses by one worker:\n"
            + cprofile_summary(profiler, PROFILE_TOP)
        )

    work = finished - created
    print(
        json.dumps(
            {
                "licenses": len(ids),
                "workers": bulk.workers(),
                "statuses": dict(statuses),
                "create_seconds": round(created - began, 3),
                "work_seconds": round(work, 3),
                "seconds": round(finished - began, 3),
                "slices": [round(seconds, 3) for seconds in slices],
                "licenses_per_second": round(len(ids) / work, 1),
                "ms_per_renewal": round(work * 1000 / len(ids), 2),
                # this process's CPU (Python, Django, the driver): the database's is apart
                "cpu_ms_per_renewal": round(cpu * 1000 / len(ids), 2),
                "create_queries": asked,
                "work_queries": counter.count - asked,
                "queries_per_renewal": round((counter.count - asked) / len(ids), 1),
                "profile": profile,
            }
        )
    )


if __name__ == "__main__":
    main()
