"""Password reset e-mails are limited per e-mail address and per client address.

Per e-mail address (THROTTLE_PASSWORD_RESET, 3/hour) the page keeps answering "sent", as
for an unknown address, so the limit tells nothing about who has an account; the e-mails
are counted at a real SMTP server. Per client address (THROTTLE_PASSWORD_RESET_ADDRESS)
the form says to wait: that limit counts requests, whatever the address asked for.
"""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
RESET = "/accounts/password_reset/"
DONE = "/accounts/password_reset/done/"


@pytest.fixture(autouse=True)
def _frozen_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def reset(client, email, address="10.0.0.1"):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=address)


def test_twelve_requests_for_one_address_send_three_emails(client, world, smtp):
    for n in range(12):
        response = reset(client, world.org_admin.email, address=f"10.0.0.{n}")
        assert (response.status_code, response["Location"]) == (302, DONE)
    assert len(smtp.to(world.org_admin.email)) == 3


def test_the_address_gets_e_mail_again_an_hour_later(client, world, smtp, _frozen_clock):
    for _ in range(4):
        reset(client, world.org_admin.email)
    assert len(smtp.to(world.org_admin.email)) == 3
    _frozen_clock.shift(dt.timedelta(minutes=61))
    reset(client, world.org_admin.email)
    assert len(smtp.to(world.org_admin.email)) == 4


def test_the_limit_ignores_the_letter_case_of_the_address(client, world, smtp):
    for email in ["org_admin@example.com", "ORG_ADMIN@example.com", "Org_Admin@Example.COM"] * 2:
        reset(client, email)
    assert len(smtp.accepted) == 3


def test_a_limited_known_address_answers_exactly_like_an_unknown_one(client, world, smtp):
    for _ in range(3):
        reset(client, world.org_admin.email)
    limited = reset(client, world.org_admin.email)
    unknown = reset(client, "nobody@example.com")
    assert (limited.status_code, limited["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(smtp.accepted) == 3


def test_one_client_address_cannot_ask_for_many_resets(client, world, smtp, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "password_reset_address": "4/hour",
        },
    }
    people = [world.org_admin, world.org_viewer, world.dist_admin, world.partner_admin]
    for person in people:
        assert reset(client, person.email, address="203.0.113.9").status_code == 302
    response = reset(client, world.staff.email, address="203.0.113.9")
    assert response.status_code == 429
    assert b"Too many password reset requests" in response.content
    assert int(response["Retry-After"]) >= 1
    assert smtp.to(world.staff.email) == []
    # another client address is not affected
    assert reset(client, world.staff.email, address="203.0.113.10").status_code == 302
    assert len(smtp.to(world.staff.email)) == 1
