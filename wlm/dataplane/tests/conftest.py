"""A real FreeRADIUS with the repository's configuration in front of the live server
(wlm/tests/radius.py)."""

from types import SimpleNamespace

import pytest

from wlm.conftest import make_user, token_for
from wlm.connections import accounting
from wlm.dataplane.front import DataPlaneFront
from wlm.tenancy.models import Role, TenantType
from wlm.tests import radius

SECRET = "radius-test-secret"


@pytest.fixture
def radius_config(tmp_path):
    """A private copy of deploy/freeradius/ (skips when FreeRADIUS is not installed)."""
    reason = radius.missing()
    if reason:
        pytest.skip(reason)
    return radius.private_copy(tmp_path)


@pytest.fixture
def radius_token(transactional_db) -> str:
    """The token of a gateway user of its own: what FreeRADIUS sends the service."""
    gateway = make_user("radius_gateway", TenantType.STAFF, role=Role.GATEWAY)
    return token_for(gateway)


@pytest.fixture
def served(request, live_server):
    """The live server answering as `make run` serves (wlm.wsgi): the data plane's lean
    path, with a process cache of its own for this test, before Django. Parametrized
    indirectly with "django", Django alone answers (the reference the lean path follows).

    ``.url``; ``.written()`` writes the accounting the lean path has buffered (its thread
    would every 0.1 s; here the test says when, and no thread outlives the test)."""
    if getattr(request, "param", "front") == "django":
        yield SimpleNamespace(url=live_server.url, written=lambda: None)
        return
    httpd = live_server.thread.httpd
    django = httpd.get_app()
    front = DataPlaneFront(django, buffer=accounting.Buffer(writer=False))  # ``written`` flushes
    httpd.set_app(front)
    yield SimpleNamespace(url=live_server.url, written=front.accounting.flush)
    httpd.set_app(django)


@pytest.fixture
def freeradius(radius_config, served, radius_token):
    """FreeRADIUS on free ports (``.auth_port``, ``.acct_port``), shared secret ``SECRET``,
    calling the live server (``served``) with a gateway's token; ``.send(attributes, kind)``
    is ``radius.radclient`` to it. Stopped after the test."""
    server = radius.FreeRadius(radius_config, secret=SECRET, api_url=served.url, token=radius_token)
    server.start()
    yield server
    server.stop()
