"""Schemathesis fuzzes every operation of the OpenAPI schema against the in-process app.

For each operation of ``/api/v1/schema/`` (drf-spectacular), as a staff admin and as a
partner admin of the ``world`` fixture, Schemathesis sends schema-valid (positive) and
schema-violating (negative) requests through ``wlm.wsgi.application`` and checks that
no answer is a 5xx and that every answer is documented: its status code, its content
type, its body (problem+json for errors) and its headers.

Bounded and repeatable: a fixed seed, derandomized Hypothesis, ``MAX_EXAMPLES`` fuzzed
cases per operation (plus Schemathesis' coverage cases: boundaries and typical invalid
values of every parameter). Every request runs in a savepoint that is rolled back, so
each case sees the same ``world``.
"""

import copy
import zlib

import pytest
import schemathesis
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth

from wlm.conftest import token_for
from wlm.lib import clock
from wlm.licenses import lifecycle, services
from wlm.licenses.models import License, LicenseRequest, Module
from wlm.locations.models import AccessPoint, Room
from wlm.notifications import worker
from wlm.notifications.models import Channel, Delivery, Notice
from wlm.wsgi import application

MAX_EXAMPLES = 20

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        "generation": {"mode": "all", "deterministic": True},
        # `schema.parametrize()` runs the examples, coverage and fuzzing phases; the
        # stateful phase (links between operations) is not part of this test.
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # Excluded by design, both are about what the API *accepts*, not what it answers:
            # - positive_data_acceptance expects a 2xx for every schema-valid request, but
            #   the schema cannot say everything the API validates: a time zone must be an
            #   IANA name, a MAC address 48 bits of hex, an `ordering` field one of the
            #   listed ones, a referenced id must exist and be visible, a password must
            #   pass Django's validators; those are 400s by design.
            # - negative_data_rejection expects a 4xx for every schema-violating request,
            #   but DRF coerces on purpose: a CharField takes 0 as "0", a BooleanField
            #   takes 0/1, django-filter's boolean filter ignores a value it cannot read.
            # Negative cases are still generated and sent: their answers must be
            # documented, conform to the schema and never be a 5xx.
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=CONFIG)


@pytest.fixture
def in_process_db(db):
    """The WSGI calls share the test's connection and transaction, like Django's test client.

    Django closes "old" connections when a request starts and finishes; inside the test's
    transaction that would drop it, so those two receivers are off during the test.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["staff", "partner_admin"])
def caller(request, world, in_process_db):
    """``(headers, rows, sent)``: the token of a staff or a partner admin, the world's
    rows, and the requests already sent by this test."""
    token = token_for(getattr(world, request.param))
    _add_licenses(world)
    return {"Authorization": f"Token {token}"}, _rows(world), set()


def _add_licenses(world) -> None:
    """A pending request and licenses in several statuses, so actions meet real rows."""
    hotel = services.Terms(
        location=world.hotel, distributor=world.dist, years=2, payment="annual", rooms=10
    )
    shop = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="monthly", aps=5
    )
    services.create_request(world.partner_admin, shop)
    services.create_license(world.staff, hotel)  # pending_provision
    started = services.create_license(world.staff, shop)
    lifecycle.provision(world.org_admin, world.shop, started.key)
    lifecycle.start(started.pk, clock.today_in(world.shop.timezone))  # in_use
    # its first notice sent: deliveries (and inbox items) for the notices and the inbox
    first = started.notices.order_by("due_at").first()
    with time_machine.travel(first.due_at, tick=False):
        worker.run_pass()


def _rows(world) -> dict[str, list]:
    """Ids (as the API spells them) of the rows that exist, by URL collection."""
    return {
        "distributors": [world.dist.pk, world.other_dist.pk],
        "partners": [world.partner.pk, world.other_partner.pk],
        "organizations": [world.org.pk, world.other_org.pk],
        "users": list(get_user_model().objects.order_by("pk").values_list("pk", flat=True)),
        "locations": [str(loc.pk) for loc in (world.hotel, world.shop, world.other_office)],
        "access-points": list(AccessPoint.objects.order_by("pk").values_list("pk", flat=True)),
        "rooms": list(Room.objects.order_by("pk").values_list("pk", flat=True)),
        "modules": list(Module.objects.order_by("code").values_list("code", flat=True)),
        "licenses": list(License.objects.order_by("pk").values_list("pk", flat=True)),
        "license-requests": list(
            LicenseRequest.objects.order_by("pk").values_list("pk", flat=True)
        ),
        "assignments": [str(loc.pk) for loc in (world.hotel, world.shop)],
        "notifications": list(Notice.objects.order_by("pk").values_list("pk", flat=True)),
        "inbox": list(
            Delivery.objects.filter(channel=Channel.INBOX)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
    }


# A body or query field that names another row -> the collection of that row.
REFERENCES = {
    "organization": "organizations",
    "license": "licenses",
    "partner": "partners",
    "distributors": "distributors",
    "distributor": "distributors",
    "location": "locations",
    "modules": "modules",
    "module": "modules",
    "add_modules": "modules",
    "remove_modules": "modules",
}
TENANT_COLLECTIONS = {
    "distributor": "distributors",
    "partner": "partners",
    "organization": "organizations",
}
# Values the API accepts for fields whose rules the schema cannot express (an IANA time
# zone, an ISO country, 48 bits of MAC in any usual notation, a password Django likes).
PLAUSIBLE = {
    "timezone": ["Europe/Madrid", "UTC", "America/Argentina/Buenos_Aires"],
    "country": ["ES", "NZ", "PT"],
    "mac": ["02:00:00:00:00:01", "02-00-00-00-00-0a", "0200.0000.00ff", "020000000abc"],
    "password": ["correct-horse-battery-staple"],
}


def _private_copy(case):
    """A copy of ``case`` whose containers and metadata may be changed freely.

    The coverage phase's cases are built once and shared by both callers' tests (and a
    Hypothesis replay runs a case again), so they must not be edited in place.
    """
    return schemathesis.Case(
        operation=case.operation,
        method=case.method,
        path=case.path,
        path_parameters=copy.deepcopy(case.path_parameters),
        headers=case.headers.copy(),
        cookies=copy.deepcopy(case.cookies),
        query=copy.deepcopy(case.query),
        body=copy.deepcopy(case.body),
        media_type=case.media_type,
        multipart_content_types=case.multipart_content_types,
        meta=copy.deepcopy(case.meta),
    )


def _aim_at_real_rows(case, rows: dict[str, list]) -> None:
    """Point valid ids of the case at existing rows, and valid values at plausible ones.

    Random ids almost always answer 404 (or 400 for a reference), random time zones or
    MAC addresses 400, so reads, updates, creations and deletions of real rows would
    hardly be exercised, nor the schema of their 2xx bodies. Each value is swapped for
    one of the real ones, or kept, by a stable hash of the case (repeatable runs). Only
    components generated as valid are changed; negative ones are sent as generated.
    """
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr has an address
    salt = repr((case.path_parameters, case.query, body))

    def pick(pool: list, generated, name: str):
        index = zlib.crc32(f"{salt}|{name}|{generated!r}".encode()) % (len(pool) + 1)
        return pool[index] if index < len(pool) else generated

    negative = case.meta.is_negative_at if case.meta is not None else lambda _location: False
    if case.path_parameters and not negative(ParameterLocation.PATH):
        segments = case.path.strip("/").split("/")
        for name, value in case.path_parameters.items():
            collection = segments[segments.index(f"{{{name}}}") - 1]
            if collection in rows:
                case.path_parameters[name] = str(pick(rows[collection], value, name))

    def aim(container: dict) -> None:
        pools = {name: rows[collection] for name, collection in REFERENCES.items()}
        tenant_type = container.get("tenant_type")  # anything, in a generated body
        tenant = TENANT_COLLECTIONS.get(tenant_type) if isinstance(tenant_type, str) else None
        if tenant is not None:
            pools["tenant_id"] = rows[tenant]
        for name, pool in {**pools, **PLAUSIBLE}.items():
            value = container.get(name)
            if isinstance(value, list):
                container[name] = [pick(pool, item, name) for item in value]
            elif value is not None:
                container[name] = pick(pool, value, name)

    if case.query and not negative(ParameterLocation.QUERY):
        aim(case.query)
    if isinstance(case.body, dict) and not negative(ParameterLocation.BODY):
        aim(case.body)


# (operation, token) pairs whose authentication ignored_auth has already probed.
_AUTH_PROBED: set[tuple[str, str]] = set()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api(case, caller):
    headers, rows, sent = caller
    case = _private_copy(case)
    _aim_at_real_rows(case, rows)
    # Every case starts from the same rows, so the same request gets the same answer: the
    # coverage phase repeats some (e.g. one per country of an enum, most of them aimed at
    # the same few countries above); each is sent once.
    request = repr((case.path_parameters, case.query, case.body, dict(case.headers), case.cookies))
    if request in sent:
        return
    sent.add(request)
    # ignored_auth re-sends every 2xx request without and with bad credentials (three
    # more requests); enforcement is a property of the operation, so once is enough.
    probed = (case.operation.label, headers["Authorization"])
    excluded = [ignored_auth] if probed in _AUTH_PROBED else []
    cache.clear()  # the token endpoint's throttle counts every example otherwise
    with transaction.atomic():
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        transaction.set_rollback(True)
    if 200 <= response.status_code < 300:
        _AUTH_PROBED.add(probed)
