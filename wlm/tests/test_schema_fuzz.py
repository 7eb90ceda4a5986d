"""Schemathesis fuzzes every operation of the OpenAPI schema against the in-process app."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from wlm.wsgi import application

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        "generation": {"mode": "all", "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=CONFIG)


@pytest.fixture
def in_process_db(db):
    """The WSGI calls share the test's connection and transaction, like Django's test client."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["staff", "partner_admin"])
def token(request, world, in_process_db):
    user = getattr(world, request.param)
    return Token.objects.get_or_create(user=user)[0].key


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api(case, token):
    cache.clear()
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Token {token}"})
        transaction.set_rollback(True)
