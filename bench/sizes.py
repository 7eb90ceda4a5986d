"""What each growing table costs per row on PostgreSQL, and per year at platform scale
(docs/operations.md, "Retention and sizes").

    .venv/bin/python bench/sizes.py [--locations 2000] [--days 30]

A fresh PostgreSQL database (``--database``, default ``wlm_sizes``, on ``PG_URL``),
``generate_load --locations N --history 4`` (five licenses per location, as at 1,000,000
licenses), then rows of every table that grows, written by the code that writes them in
production:

- daily connection aggregates: the intake (``ingest_once``, keyed batches of 100 events),
  one device per location and day for ``--days`` days; pending devices: four devices for
  each license waiting to start (one short of its start);
- idempotency keys: those keyed batches, and RADIUS accounting Starts
  (``accounting.record``: one key per packet);
- notices, deliveries, attempts: an admin with an e-mail address for every tenant and a
  notice e-mail for every organization, then the notifier's own pass (``decide_due``,
  ``deliver_due``; e-mail to Django's in-memory backend) with the clock moved until
  ``--notices`` scheduled notices are due: each delivery carries its rendered message;
- audit entries: ``audit.record`` as the services write them (logins with a client
  address and user agent, license denials with before/after, location changes);
- the change log: license updates through the database's triggers;
- sessions: Django's session store for logged-in users; bulk jobs and their items.

Then, per table, compacted first (``VACUUM FULL``: a table that is updated and pruned as it
runs keeps some free space besides, reused by new rows, typically 10-30 % more), its rows
and ``pg_total_relation_size`` (heap, TOAST and every index): bytes per row, times the rows
a year brings at 200,000 locations and 1,000,000 licenses under ``ASSUMPTIONS``. Last,
with the clock three years ahead (every row past its keeping), the time of each kind's
retention batches of 1,000 rows. Writes bench/results/sizes.json and prints the tables of
docs/operations.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, django_setup, fresh_database, log, manage, settle

LOCATIONS = 200_000
LICENSES = 1_000_000
# cycles (end dates) a license goes through a year: terms of 1 to 5 years, as generated
CYCLES_PER_LICENSE_YEAR = sum(1 / years for years in range(1, 6)) / 5  # 0.457
RECIPIENTS = 7  # per notice: see ``_people`` (3 inboxes, 4 e-mails; no webhook)
PEOPLE = 20_000  # people who log in (tenant admins and viewers, staff)
# rows a year brings (or, for what is kept a window only, the rows that window holds)
ASSUMPTIONS = {
    "connections_locationday": (
        LOCATIONS * 365,
        "one row per location and local day with a connection: every location, every day",
    ),
    "connections_intakekey": (
        LOCATIONS * 100,
        "a window of 24 h, not a year: one key per RADIUS accounting Start, 100 device "
        "sessions per location a day (keyed batches add one per batch)",
    ),
    "connections_pendingdevice": (
        LICENSES // 10 * 4,
        "bounded, not a year: at most 4 devices (LICENSE_START_DEVICES - 1) of each license "
        "waiting to start, 10 % of the licenses",
    ),
    "notifications_notice": (
        round(LICENSES * CYCLES_PER_LICENSE_YEAR * 6),
        "6 notices a cycle; terms of 1-5 years: 0.46 cycles per license a year",
    ),
    "notifications_delivery": (
        round(LICENSES * CYCLES_PER_LICENSE_YEAR * 6 * RECIPIENTS),
        f"{RECIPIENTS} recipients a notice (three admins' inboxes, the organization admin's "
        "e-mail, three tenants' notice e-mails)",
    ),
    "notifications_attempt": (
        round(LICENSES * CYCLES_PER_LICENSE_YEAR * 6 * 4),
        "one attempt per e-mail delivery (4 a notice); retries add one each",
    ),
    "audit_auditentry": (
        10_000_000,
        "license events (~4 a cycle: 1.8 M), logins and failed logins (20,000 people, one "
        "a working day: 5 M), locations, access points, rooms, tokens, users (3 M)",
    ),
    "dataplane_change": (
        20_000,
        "an hour, not a year: 20,000 license, assignment, access point or room changes an hour",
    ),
    "django_session": (
        PEOPLE * 14,
        "two weeks (SESSION_COOKIE_AGE), not a year: one session a login a day",
    ),
}


def _people(organizations, partner, distributor) -> None:
    """An admin with an e-mail address in every tenant, and a notice e-mail for every
    organization: seven recipients for each notice."""
    from django.contrib.auth import get_user_model

    from wlm.tenancy.models import Membership, Role, TenantType

    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"admin-{n}", email=f"admin-{n}@customer{n}.example")
        for n in range(len(organizations) + 2)
    )
    tenants = [(TenantType.ORGANIZATION, "organization", org) for org in organizations]
    tenants += [(TenantType.PARTNER, "partner", partner)]
    tenants += [(TenantType.DISTRIBUTOR, "distributor", distributor)]
    Membership.objects.bulk_create(
        Membership(user=user, tenant_type=kind, role=Role.ADMIN, **{field: tenant})
        for user, (kind, field, tenant) in zip(users, tenants, strict=True)
    )
    for org in organizations:
        org.email = f"wifi-notices@customer{org.pk}.example"
    type(organizations[0]).objects.bulk_update(organizations, ["email"])


def _connections(days: int, rng: random.Random) -> None:
    """Keyed batches of 100 events (one device per location and day) and as many RADIUS
    Starts."""
    from wlm.connections import accounting
    from wlm.connections import services as intake
    from wlm.lib import clock
    from wlm.licenses.models import License, LicenseStatus
    from wlm.locations.models import Location
    from wlm.tenancy.models import Membership, Role

    gateway = Membership.objects.filter(role=Role.GATEWAY).get().user
    waiting = {
        str(pk)
        for pk in License.objects.filter(status=LicenseStatus.PENDING_START).values_list(
            "location_id", flat=True
        )
    }
    locations = [str(pk) for pk in Location.objects.values_list("pk", flat=True)]
    now = clock.now()
    # four devices for each license waiting to start (one short of its start), after its
    # Send Key; every other location a device a day
    intake.ingest(
        [
            {"location": location, "device": f"06:00:00:00:00:{n:02X}", "seen_at": now.isoformat()}
            for location in sorted(waiting)
            for n in range(4)
        ],
        now,
    )
    locations = [location for location in locations if location not in waiting]
    events = [
        {
            "location": location,
            "device": f"02:{rng.getrandbits(40):010x}",
            "seen_at": (now - dt.timedelta(days=day, minutes=rng.randint(0, 600))).isoformat(),
        }
        for day in range(days)
        for location in locations
    ]
    for first in range(0, len(events), 100):
        body = {"events": events[first : first + 100]}
        intake.ingest_once(gateway, str(uuid.uuid4()), body, now)
    stations = [f"04:00:00:00:{n // 256:02X}:{n % 256:02X}" for n in range(4096)]
    for first in range(0, len(events), 1000):
        packets = []
        for event in events[first : first + 1000]:
            packets.append(
                accounting.packet(
                    status_type=accounting.START,
                    location=event["location"],
                    station=rng.choice(stations),
                    device=event["device"],
                    session=f"{rng.getrandbits(64):016X}",
                    event_timestamp=None,
                    now=now,
                )
            )
        accounting.record(gateway.pk, packets, now)


def _notices(count: int) -> None:
    """The notifier's own pass with the clock moved until ``count`` notices are due."""
    import time_machine
    from django.conf import settings

    from wlm.notifications import worker
    from wlm.notifications.models import Notice, NoticeState

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    scheduled = Notice.objects.filter(state=NoticeState.SCHEDULED).order_by("due_at")
    moment = scheduled.values_list("due_at", flat=True)[count - 1]
    with time_machine.travel(moment, tick=True):
        result = worker.PassResult()
        while worker.decide_due(result, set()):
            pass
        while worker.deliver_due(result):
            pass
    log(f"notifier: {result}")


def _audit(count: int, rng: random.Random) -> None:
    """Entries as the services write them: logins from a browser, license denials,
    location changes."""
    from wlm.audit import services as audit
    from wlm.audit.models import Kind
    from wlm.licenses.models import License
    from wlm.locations.models import Location

    licenses = list(License.objects.select_related("distributor", "partner", "organization")[:500])
    places = list(Location.objects.select_related("organization__partner")[:500])
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    token = audit.set_client(audit.Client(address="203.0.113.24", user_agent=agent))
    try:
        for n in range(count):
            draw = n % 10
            if draw < 5:  # a login
                place = rng.choice(places)
                audit.record(
                    Kind.LOGIN, obj=None, tenant=place.organization, label=f"admin-{n % 400}"
                )
            elif draw < 8:  # a license event with its status and reason
                license = rng.choice(licenses)
                audit.record(
                    Kind.LICENSE_DENIED,
                    obj=license,
                    tenant=audit.license_scope(license),
                    before={"status": "in_use"},
                    after={"status": "access_denied", "reason": "Invoice 2026-0412 unpaid"},
                )
            else:  # a location changed
                place = rng.choice(places)
                audit.record(
                    Kind.LOCATION_CHANGED,
                    obj=place,
                    tenant=place.organization,
                    before={"name": place.name, "address": ""},
                    after={"name": place.name + " (lobby)", "address": "Calle Mayor 1, 28013"},
                )
    finally:
        audit.reset_client(token)


def _changes(count: int) -> None:
    from django.db.models import F

    from wlm.licenses.models import License

    ids = list(License.objects.values_list("pk", flat=True)[:count])
    License.objects.filter(pk__in=ids).update(limit=F("limit") + 1)


def _sessions(count: int) -> None:
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    for n in range(count):
        session = store()
        session["_auth_user_id"] = str(n)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = f"{n:064x}"
        session.create()


def _bulk_job(items: int) -> None:
    from wlm.lib import clock
    from wlm.licenses.models import BulkAction, BulkJob, BulkJobItem, BulkJobState, License
    from wlm.tenancy.models import Membership, TenantType

    owner = Membership.objects.filter(tenant_type=TenantType.DISTRIBUTOR).first().user
    job = BulkJob.objects.create(
        owner=owner,
        action=BulkAction.RENEW,
        years=1,
        state=BulkJobState.FINISHED,
        total=items,
        finished=clock.now(),
    )
    BulkJobItem.objects.bulk_create(
        BulkJobItem(job=job, license_id=pk, outcome="done", message="")
        for pk in License.objects.values_list("pk", flat=True)[:items]
    )


TABLES = [
    "connections_locationday",
    "connections_intakekey",
    "connections_pendingdevice",
    "notifications_notice",
    "notifications_delivery",
    "notifications_attempt",
    "audit_auditentry",
    "dataplane_change",
    "django_session",
    "licenses_bulkjobitem",
]


def _measure(database_url: str) -> list[dict]:
    """Each table's rows and bytes, compacted first (``VACUUM FULL``): the live rows, without
    the dead versions that this burst's updates left (a delivery is updated when claimed
    and when sent; a day's aggregate with every batch), whose space a running platform
    reuses for new rows."""
    import psycopg

    rows = []
    with psycopg.connect(database_url, autocommit=True) as connection:
        for table in TABLES:
            connection.execute(f"VACUUM (FULL, ANALYZE) {table}")
            count = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            heap, indexes, total = connection.execute(
                "SELECT pg_table_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
                [table] * 3,
            ).fetchone()
            rows.append(
                {
                    "table": table,
                    "rows": count,
                    "table_bytes": heap,
                    "index_bytes": indexes,
                    "bytes_per_row": round(total / count) if count else None,
                }
            )
    return rows


def _time_retention(years: int = 3) -> dict:
    """Each kind's batches of 1,000 with the clock ``years`` ahead (every row past its
    keeping): the median and slowest milliseconds of a batch, and the batches."""
    import statistics

    import time_machine

    from wlm.lib import clock
    from wlm.retention import services as retention

    timings = {}
    moment = clock.now() + dt.timedelta(days=365 * years)
    with time_machine.travel(moment, tick=True):
        for kind in retention.KINDS:
            times = []
            while True:
                began = time.perf_counter()
                count = kind.delete(clock.now(), 1000)
                times.append((time.perf_counter() - began) * 1000)
                if count < 1000:
                    break
            timings[kind.name] = {
                "batches": len(times),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
    return timings


def _extrapolate(measured: list[dict]) -> list[dict]:
    for row in measured:
        if row["table"] in ASSUMPTIONS and row["bytes_per_row"]:
            rows, why = ASSUMPTIONS[row["table"]]
            row.update(
                platform_rows=rows, platform_gb=round(rows * row["bytes_per_row"] / 1e9, 2), why=why
            )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--notices", type=int, default=5_000)
    parser.add_argument("--audit", type=int, default=20_000)
    parser.add_argument("--database", default="wlm_sizes", help="PostgreSQL's, made afresh.")
    args = parser.parse_args()
    began = time.monotonic()
    url = fresh_database("postgres", args.database)
    os.environ["DATABASE_URL"] = url
    log(f"migrate, generate_load --locations {args.locations} --history 4")
    manage(url, "migrate", "--noinput")
    manage(url, "generate_load", "--locations", str(args.locations), "--history", "4")
    django_setup()
    from wlm.tenancy.models import Distributor, Organization, Partner

    rng = random.Random(2026)
    _people(list(Organization.objects.all()), Partner.objects.get(), Distributor.objects.get())
    log(f"connections: {args.days} days")
    _connections(args.days, rng)
    log(f"notices: {args.notices} due")
    _notices(args.notices)
    log(f"audit: {args.audit} entries")
    _audit(args.audit, rng)
    _changes(5_000)
    _sessions(5_000)
    _bulk_job(5_000)
    settle(url)
    tables = _extrapolate(_measure(url))
    log("retention: every kind's batches, the clock 3 years ahead")
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["bench/sizes.py", *sys.argv[1:]]),
        "locations": args.locations,
        "tables": tables,
        "retention_batches": _time_retention(),
        "seconds": round(time.monotonic() - began),
    }
    (RESULTS / "sizes.json").write_text(json.dumps(result, indent=1) + "\n")
    print("| table | rows here | bytes/row (table + indexes) | rows at platform scale | size |")
    print("|---|---:|---:|---:|---:|")
    for row in result["tables"]:
        print(
            f"| `{row['table']}` | {row['rows']:,} | {row['bytes_per_row'] or '-'} | "
            f"{row.get('platform_rows', 0):,} | {row.get('platform_gb', '-')} GB |"
        )
    print("\n| kind | batches of 1,000 | median ms | slowest ms |\n|---|---:|---:|---:|")
    for kind, timing in result["retention_batches"].items():
        print(f"| {kind} | {timing['batches']} | {timing['median_ms']} | {timing['max_ms']} |")


if __name__ == "__main__":
    main()
