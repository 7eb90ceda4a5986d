"""Failed logins are throttled per username and per client address, at every door.

The site login (/accounts/login/), the admin login (/admin/login/) and the token endpoint
count failed passwords in the same counters (the throttles' cache): a username that failed
too often is refused for a while from addresses it has not logged in from, and an address
that failed too often is refused for every username. A refused attempt is not counted, so
the refusal ends at most one window after the last counted failure. The pages answer 429
with Retry-After and say how long to wait.
"""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from wlm.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/v1/auth/token/"
THROTTLED = b"Too many failed logins"


@pytest.fixture(autouse=True)
def _frozen_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rates(settings):
    """Small limits, so a test needs few requests: 3 failures per username, 5 per address."""
    throttle_rates = {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "login_user": "3/hour",
        "login_address": "5/hour",
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": throttle_rates}


def login(client, username, password, address="10.0.0.1", url=LOGIN):
    data = {"username": username, "password": password}
    if url == ADMIN_LOGIN:
        data["next"] = "/admin/"
    return client.post(url, data, REMOTE_ADDR=address)


def logged_in_as(client):
    return client.session.get("_auth_user_id")


def assert_throttled(response):
    assert response.status_code == 429, response.content[:300]
    assert THROTTLED in response.content
    assert int(response["Retry-After"]) >= 1


def test_default_rates_stop_a_run_of_wrong_passwords(client, world):
    """The attack as it was made: 30 wrong passwords for one user from one address."""
    statuses = [login(client, "org_admin", f"guess-{n}").status_code for n in range(30)]
    assert statuses == [200] * 10 + [429] * 20
    response = login(client, "org_admin", PASSWORD)
    assert_throttled(response)
    assert b"Try again in 60 minutes" in response.content
    assert logged_in_as(client) is None


def test_a_username_that_failed_too_often_is_refused_from_anywhere_even_with_its_password(
    client, world, rates
):
    for n in range(3):
        assert login(client, "org_admin", "wrong", address=f"10.0.1.{n}").status_code == 200
    assert_throttled(login(client, "org_admin", PASSWORD, address="10.0.2.1"))
    assert logged_in_as(client) is None
    # another user at the same addresses is not affected
    assert login(client, "org_viewer", PASSWORD, address="10.0.1.0").status_code == 302


def test_the_refusal_lifts_when_the_failures_leave_the_window(client, world, rates, _frozen_clock):
    for _ in range(3):
        login(client, "org_admin", "wrong", address="10.0.1.1")
    _frozen_clock.shift(dt.timedelta(minutes=59))
    response = login(client, "org_admin", PASSWORD, address="10.0.2.1")
    assert_throttled(response)
    assert int(response["Retry-After"]) == 60
    assert b"Try again in 1 minute." in response.content
    _frozen_clock.shift(dt.timedelta(seconds=61))
    assert login(client, "org_admin", PASSWORD, address="10.0.2.1").status_code == 302


def test_refused_attempts_do_not_extend_the_refusal(client, world, rates, _frozen_clock):
    for _ in range(3):
        login(client, "org_admin", "wrong", address="10.0.1.1")
    for _ in range(5):  # the attacker keeps going: not counted while refused
        _frozen_clock.shift(dt.timedelta(minutes=10))
        assert_throttled(login(client, "org_admin", "wrong", address=f"10.0.3.{_}"))
    _frozen_clock.shift(dt.timedelta(minutes=11))
    assert login(client, "org_admin", PASSWORD, address="10.0.2.1").status_code == 302


def test_an_attacker_cannot_lock_the_owner_out_of_an_address_it_logged_in_from(
    client, world, rates
):
    assert login(client, "org_admin", PASSWORD, address="192.0.2.7").status_code == 302
    client.post("/accounts/logout/")
    for n in range(6):  # from everywhere else
        login(client, "org_admin", "wrong", address=f"198.51.100.{n}")
    # a new address is refused, the owner's known one is not
    assert_throttled(login(client, "org_admin", PASSWORD, address="198.51.100.200"))
    assert login(client, "org_admin", PASSWORD, address="192.0.2.7").status_code == 302
    assert logged_in_as(client) == str(world.org_admin.pk)


def test_an_address_that_failed_too_often_is_refused_for_every_username(client, world, rates):
    for name in ["staff", "dist_admin", "partner_admin", "nobody", "org_viewer"]:
        assert login(client, name, "wrong", address="203.0.113.9").status_code == 200
    assert_throttled(login(client, "org_admin", PASSWORD, address="203.0.113.9"))
    assert logged_in_as(client) is None
    assert login(client, "org_admin", PASSWORD, address="203.0.113.10").status_code == 302


def test_a_successful_login_does_not_reset_the_counters(client, world, rates):
    """An attacker with an account of its own cannot wipe its failures by logging in."""
    for n in range(4):
        login(client, f"victim{n}", "wrong", address="203.0.113.9")
    assert login(client, "org_viewer", PASSWORD, address="203.0.113.9").status_code == 302
    client.post("/accounts/logout/")
    login(client, "victim9", "wrong", address="203.0.113.9")
    assert_throttled(login(client, "org_viewer", PASSWORD, address="203.0.113.9"))


def test_forwarded_for_is_ignored_without_trusted_proxies(client, world, rates):
    """A client cannot pick a new address per attempt by sending X-Forwarded-For."""
    for n in range(5):
        client.post(
            LOGIN,
            {"username": f"user{n}", "password": "wrong"},
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}",
        )
    response = client.post(
        LOGIN,
        {"username": "org_admin", "password": PASSWORD},
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="10.9.9.99",
    )
    assert_throttled(response)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client, world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "NUM_PROXIES": 1,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login_address": "2/hour",
        },
    }
    for n in range(2):
        client.post(
            LOGIN,
            {"username": f"user{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.254",  # the proxy
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )
    proxied = {"REMOTE_ADDR": "10.0.0.254"}
    data = {"username": "org_admin", "password": PASSWORD}
    assert_throttled(client.post(LOGIN, data, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxied))
    response = client.post(LOGIN, data, HTTP_X_FORWARDED_FOR="203.0.113.10", **proxied)
    assert response.status_code == 302


@pytest.fixture
def root(django_user_model):
    """A Django admin (superuser)."""
    return django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)


def test_the_admin_login_is_throttled_with_the_same_counters(client, world, rates, root):
    for _ in range(2):
        login(client, "root", "wrong", address="10.0.1.1", url=LOGIN)
    assert login(client, "root", "wrong", address="10.0.1.2", url=ADMIN_LOGIN).status_code == 200
    response = login(client, "root", PASSWORD, address="10.0.1.3", url=ADMIN_LOGIN)
    assert_throttled(response)
    assert b'id="login-form"' in response.content  # the admin's own page, with the error
    assert logged_in_as(client) is None
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_still_lets_an_admin_in(client, world, rates, root):
    response = login(client, "root", PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_non_staff_user_with_the_right_password_is_not_counted_at_the_admin(client, world, rates):
    for _ in range(4):
        response = login(client, "org_admin", PASSWORD, address="10.0.1.1", url=ADMIN_LOGIN)
        assert response.status_code == 200  # the admin's "not a staff account" message
    assert login(client, "org_admin", PASSWORD, address="10.0.1.9").status_code == 302


def test_the_token_endpoint_shares_the_counters(client, world, rates, api):
    for _ in range(3):
        login(client, "org_admin", "wrong", address="10.0.1.1")
    response = api().post(
        TOKEN, {"username": "org_admin", "password": PASSWORD}, REMOTE_ADDR="10.0.2.1"
    )
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1


def test_wrong_passwords_at_the_token_endpoint_count_for_the_pages(client, world, rates, api):
    for _ in range(3):
        response = api().post(
            TOKEN, {"username": "org_admin", "password": "wrong"}, REMOTE_ADDR="10.0.1.1"
        )
        assert response.status_code == 401
    assert_throttled(login(client, "org_admin", PASSWORD, address="10.0.2.1"))


def test_usernames_count_whatever_their_letter_case(client, world, rates):
    for name in ["ORG_ADMIN", "Org_Admin", "org_admin"]:
        login(client, name, "wrong", address="10.0.1.1")
    assert_throttled(login(client, "org_admin", PASSWORD, address="10.0.2.1"))
