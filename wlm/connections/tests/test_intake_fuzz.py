"""Schemathesis on the intake as the gateway, the only role it answers with a 200.

``wlm/tests/test_schema_fuzz.py`` calls every operation as a staff and a partner admin,
who get a 403 here. As the gateway the generated batches and ``Idempotency-Key``
headers reach the intake: no answer may be a 5xx, and every answer (200, a replay with
``Idempotent-Replayed``, 400, 422) must be the documented one. The cases are not rolled
back one by one, so keys generated twice meet their first use: replays and 422s.
"""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from wlm.conftest import token_for
from wlm.tests import test_schema_fuzz as fuzz

schema = fuzz.schema.include(method="POST", path="/api/v1/connections/")


@pytest.fixture
def gateway(world, db):
    """The gateway's headers; the WSGI calls share the test's connection (as in the
    schema fuzz test, Django's connection closing is off meanwhile)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    token = token_for(world.gateway)
    locations = [str(loc.pk) for loc in (world.hotel, world.shop, world.other_office)]
    yield {"Authorization": f"Token {token}"}, locations
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=fuzz.MAX_EXAMPLES * 2,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_intake_as_the_gateway(case, gateway):
    headers, locations = gateway
    case = fuzz._private_copy(case)
    # random UUIDs name no location: point the events of a valid body at real ones
    events = case.body.get("events") if isinstance(case.body, dict) else None
    if isinstance(events, list) and not case.meta.is_negative_at(ParameterLocation.BODY):
        for index, event in enumerate(events):
            if isinstance(event, dict) and "location" in event:
                event["location"] = locations[index % len(locations)]
    case.call_and_validate(headers=headers)
