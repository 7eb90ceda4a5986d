"""Platform-scale data for the benchmarks (``manage.py generate_load``).

Rows are written with ``bulk_create`` in chunks, not through the services: a benchmark
needs hundreds of thousands of licenses in minutes, and what it measures is how the
services and pages behave *on* such data. The rows respect every constraint the services
do (one license per location, dates ordered, provisioned licenses have an organization).

The mix: most locations hold a license in use; ``pending_share`` of them hold one pending
start (Send Key an hour ago, automatic start); ``other_share`` are spread over pending
provision (no location yet), access denied and contract finalized. Dates are relative to
``clock.now()``, so the data never goes stale.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from psycopg import sql

from wlm.dataplane import triggers
from wlm.lib import clock
from wlm.licenses.current import refresh_all as store_current_licenses
from wlm.licenses.dates import add_years
from wlm.licenses.keys import generate_key
from wlm.licenses.models import Assignment, License, LicenseStatus, LicenseType, Payment
from wlm.locations.models import Location, Sector
from wlm.notifications import schedule
from wlm.notifications.models import Notice, NoticeState
from wlm.tenancy import tokens
from wlm.tenancy.models import Distributor, Membership, Organization, Partner, Role, TenantType

DISTRIBUTOR = "Load Distribution"
PARTNER = "Load Partner"
GATEWAY = "load-gateway"
LOCATIONS_PER_ORGANIZATION = 50
CHUNK = 5_000
ZONES = ("Europe/Madrid", "Europe/Lisbon", "America/New_York", "Pacific/Auckland", "UTC")
COUNTRIES = {"Europe/Madrid": "ES", "Europe/Lisbon": "PT", "America/New_York": "US"}
SECTORS = (Sector.RETAIL, Sector.OFFICE, Sector.EDUCATION, Sector.PUBLIC, Sector.HOSPITALITY)
OTHERS = (
    LicenseStatus.PENDING_PROVISION,
    LicenseStatus.ACCESS_DENIED,
    LicenseStatus.CONTRACT_FINALIZED,
)


@dataclass
class Summary:
    statuses: Counter
    gateway_token: str
    locations: dict[str, list[str]]  # location ids by their license's status, in order
    history: int = 0  # earlier, finalized licenses


def _status(rng: random.Random, pending_share: float, other_share: float) -> str:
    draw = rng.random()
    if draw < pending_share:
        return LicenseStatus.PENDING_START
    if draw < pending_share + other_share:
        return rng.choice(OTHERS)
    return LicenseStatus.IN_USE


def _license(
    rng: random.Random, status: str, location: Location, organization: Organization, ctx: dict
) -> License:
    now, today = ctx["now"], ctx["today"]
    years = rng.randint(1, 5)
    term_days = (add_years(today, years) - today).days
    license = License(
        key=generate_key(),
        location=location,
        distributor=ctx["distributor"],
        partner=ctx["partner"],
        years=years,
        payment=rng.choice(Payment.values),
        license_type=LicenseType.ROOMS if location.is_hospitality else LicenseType.APS,
        limit=rng.randint(5, 200),
        status=status,
        timezone=location.timezone,
        created=now - dt.timedelta(days=term_days * 2),
    )
    if status == LicenseStatus.PENDING_PROVISION:
        license.created = now - dt.timedelta(days=rng.randint(0, 60))
        return license
    license.organization = organization
    if status == LicenseStatus.PENDING_START:
        license.provisioned = now - dt.timedelta(hours=1)
        return license
    if status == LicenseStatus.CONTRACT_FINALIZED:
        start = today - dt.timedelta(days=term_days + rng.randint(1, 400))
    else:  # in use or denied: the term runs and ends after today (whatever leap days do:
        # a term from an earlier start may be one day shorter than today's)
        start = today - dt.timedelta(days=rng.randint(0, term_days - 2))
    license.start_date, license.end_date = start, add_years(start, years)
    license.provisioned = dt.datetime.combine(start, dt.time(9), dt.UTC) - dt.timedelta(days=1)
    if status == LicenseStatus.ACCESS_DENIED:
        license.status_before_denial = LicenseStatus.IN_USE
    return license


def _history(rng: random.Random, current: License, depth: int, ctx: dict) -> list[License]:
    """``depth`` earlier one-year terms of the location, finalized, ending before the
    current license started (or before today)."""
    licenses = []
    end = current.start_date or ctx["today"]
    for _ in range(depth):
        end -= dt.timedelta(days=rng.randint(1, 90))
        start = add_years(end, -1)
        licenses.append(
            License(
                key=generate_key(),
                organization=current.location.organization,
                location=current.location,
                distributor=ctx["distributor"],
                partner=ctx["partner"],
                years=1,
                payment=rng.choice(Payment.values),
                license_type=current.license_type,
                limit=current.limit,
                status=LicenseStatus.CONTRACT_FINALIZED,
                timezone=current.timezone,
                created=dt.datetime.combine(start, dt.time(9), dt.UTC) - dt.timedelta(days=7),
                provisioned=dt.datetime.combine(start, dt.time(9), dt.UTC) - dt.timedelta(days=1),
                start_date=start,
                end_date=end,
            )
        )
        end = start
    return licenses


def _notices(license: License, now: dt.datetime) -> list[tuple]:
    """The cycle of a license with an end date, as the notifier would have left it:
    notices already due decided (sent), the others scheduled."""
    rows = []
    for number, day in schedule.notice_days(license.end_date).items():
        due_at = schedule.start_of_day(day, license.timezone)
        done = due_at <= now
        rows.append(
            (
                license.pk,
                license.end_date,
                number,
                day,
                due_at,
                NoticeState.SENT if done else NoticeState.SCHEDULED,
                due_at if done else None,
            )
        )
    return rows


def _write(model, fields: list[str], rows: list[tuple]) -> None:
    """Many rows at once: COPY on PostgreSQL (about ten times ``bulk_create``), a multi-row
    ``executemany`` on SQLite. ``fields`` are attnames; values go through each field's
    ``get_db_prep_value`` (``get_prep_value`` for COPY, which psycopg adapts)."""
    if not rows:
        return
    opts = model._meta
    columns = [opts.get_field(name.removesuffix("_id")) for name in fields]
    names = [column.column for column in columns]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(opts.db_table), sql.SQL(", ").join(map(sql.Identifier, names))
            )
            # psycopg adapts Django's own field values; others (a Country) are prepared
            prepare = [not type(column).__module__.startswith("django.") for column in columns]
            with cursor.cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(
                        [
                            column.get_prep_value(value) if needed else value
                            for column, needed, value in zip(columns, prepare, row, strict=True)
                        ]
                    )
        else:
            quote = connection.ops.quote_name
            cursor.executemany(
                f"INSERT INTO {quote(opts.db_table)} ({', '.join(map(quote, names))}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(names))})",
                [
                    [f.get_db_prep_value(v, connection) for f, v in zip(columns, row, strict=True)]
                    for row in rows
                ],
            )


def _values(objects, fields: list[str]) -> list[tuple]:
    return [tuple(getattr(obj, name) for name in fields) for obj in objects]


def _gateway_token() -> str:
    user, _created = get_user_model().objects.get_or_create(username=GATEWAY)
    Membership.objects.get_or_create(
        user=user, defaults={"tenant_type": TenantType.STAFF, "role": Role.GATEWAY}
    )
    return tokens.issue(user, "generate_load")[1]  # the secret: shown once, in the summary


LOCATION_FIELDS = [
    "id",
    "organization_id",
    "name",
    "sector",
    "timezone",
    "address",
    "country",
    "created",
]
LICENSE_FIELDS = [f.attname for f in License._meta.concrete_fields]
ASSIGNMENT_FIELDS = ["license_id", "location_id", "created"]
NOTICE_FIELDS = ["license_id", "end_date", "number", "due", "due_at", "state", "decided_at"]


def generate(
    locations: int,
    pending_share: float = 0.1,
    other_share: float = 0.1,
    seed: int = 2026,
    progress: Callable[[int], None] | None = None,
    history: int = 0,
) -> Summary:
    """``locations`` locations, each with its current license (see the module's mix) and
    ``history`` earlier finalized ones, with their notices, in chunks of ``CHUNK``;
    ``progress`` is called with the number of locations written so far."""
    if Distributor.objects.filter(name=DISTRIBUTOR).exists():
        raise CommandError("Load data exists already: generate it into an empty database.")
    rng = random.Random(seed)
    distributor = Distributor.objects.create(name=DISTRIBUTOR, email="notices@load.example")
    partner = Partner.objects.create(name=PARTNER, email="ops@load-partner.example")
    partner.distributors.add(distributor)
    now = clock.now()
    ctx = {"now": now, "today": now.date(), "distributor": distributor, "partner": partner}
    statuses: Counter = Counter()
    by_status: dict[str, list[str]] = defaultdict(list)
    history_count = 0
    next_id = (License.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    # new rows that no server process has read: no change log (wlm.dataplane)
    with triggers.paused():
        for first in range(0, locations, CHUNK):
            with transaction.atomic():
                count = min(CHUNK, locations - first)
                # CHUNK is a multiple of LOCATIONS_PER_ORGANIZATION: a chunk has its own
                # organizations
                organizations = Organization.objects.bulk_create(
                    Organization(partner=partner, name=f"Load organization {n:07d}")
                    for n in range(first, first + count, LOCATIONS_PER_ORGANIZATION)
                )
                places = []
                for n in range(count):
                    zone = rng.choice(ZONES)
                    places.append(
                        Location(
                            id=uuid.UUID(int=rng.getrandbits(128), version=4),
                            organization=organizations[n // LOCATIONS_PER_ORGANIZATION],
                            name=f"Load location {first + n:07d}",
                            sector=rng.choice(SECTORS),
                            timezone=zone,
                            country=COUNTRIES.get(zone, "NZ"),
                            created=now,
                        )
                    )
                _write(Location, LOCATION_FIELDS, _values(places, LOCATION_FIELDS))
                licenses = []
                for place in places:
                    current = _license(
                        rng,
                        _status(rng, pending_share, other_share),
                        place,
                        place.organization,
                        ctx,
                    )
                    statuses[current.status] += 1
                    by_status[current.status].append(str(place.pk))
                    licenses.append(current)
                    licenses.extend(_history(rng, current, history, ctx))
                for license in licenses:
                    license.pk, next_id = next_id, next_id + 1
                _write(License, LICENSE_FIELDS, _values(licenses, LICENSE_FIELDS))
                _write(
                    Assignment,
                    ASSIGNMENT_FIELDS,
                    [
                        (license.pk, license.location_id, license.provisioned)
                        for license in licenses
                        if license.status != LicenseStatus.PENDING_PROVISION
                    ],
                )
                _write(
                    Notice,
                    NOTICE_FIELDS,
                    [
                        row
                        for license in licenses
                        if license.end_date
                        for row in _notices(license, now)
                    ],
                )
                history_count += len(licenses) - len(places)
            if progress:
                progress(first + count)
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [License]):
            cursor.execute(statement)
        # planner statistics, as a production database's autovacuum keeps them (and the
        # rule's query below needs them: without, its subqueries scan whole tables)
        cursor.execute("ANALYZE")
    with triggers.paused():  # each location's license, by the rule, in one statement
        store_current_licenses()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Summary(statuses, _gateway_token(), dict(by_status), history_count)
