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
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from wlm.lib import clock
from wlm.licenses.dates import add_years
from wlm.licenses.keys import generate_key
from wlm.licenses.models import Assignment, License, LicenseStatus, LicenseType, Payment
from wlm.locations.models import Location, Sector
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


def _gateway_token() -> str:
    user, _created = get_user_model().objects.get_or_create(username=GATEWAY)
    Membership.objects.get_or_create(
        user=user, defaults={"tenant_type": TenantType.STAFF, "role": Role.GATEWAY}
    )
    return Token.objects.get_or_create(user=user)[0].key


def generate(
    locations: int,
    pending_share: float = 0.1,
    other_share: float = 0.1,
    seed: int = 2026,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """``locations`` locations, each with its license (see the module's mix), in chunks
    of ``CHUNK``; ``progress`` is called with the number of locations written so far."""
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
    for first in range(0, locations, CHUNK):
        with transaction.atomic():
            count = min(CHUNK, locations - first)
            # CHUNK is a multiple of LOCATIONS_PER_ORGANIZATION: a chunk's organizations are its own
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
                    )
                )
            Location.objects.bulk_create(places)
            licenses = [
                _license(
                    rng, _status(rng, pending_share, other_share), place, place.organization, ctx
                )
                for place in places
            ]
            License.objects.bulk_create(licenses)
            Assignment.objects.bulk_create(
                Assignment(license=license, location=license.location, created=license.provisioned)
                for license in licenses
                if license.status != LicenseStatus.PENDING_PROVISION
            )
            for license in licenses:
                statuses[license.status] += 1
                by_status[license.status].append(str(license.location_id))
        if progress:
            progress(first + count)
    with connection.cursor() as cursor:
        # planner statistics, as a production database's autovacuum keeps them
        cursor.execute("ANALYZE")
    return Summary(statuses, _gateway_token(), dict(by_status))
