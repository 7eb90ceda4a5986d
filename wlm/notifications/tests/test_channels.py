"""The two external channels for real: e-mail to an aiosmtpd server, signed webhooks to a
local HTTP server, both through the notifier's pass (docs/notifications.md)."""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import json
import re
import socket
from collections import Counter
from pathlib import Path

import pytest
import time_machine

from wlm.licenses import lifecycle
from wlm.locations.models import Location
from wlm.notifications import channels, messages, worker
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice
from wlm.notifications.tests.conftest import DUE_DAYS, END, local_midnight
from wlm.notifications.tests.hooks import MAX_AGE, verify

pytestmark = pytest.mark.django_db

FIRST_DAY = DUE_DAYS[1]  # notice 1 of the ``in_use`` license
T0 = local_midnight(FIRST_DAY)
SECOND = dt.timedelta(seconds=1)
CONTACTS = ["org_admin@example.com", "org@example.com", "partner@example.com", "dist@example.com"]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"


# --- the receiver's verification, exactly as docs/notifications.md shows it ----------


@pytest.fixture
def dead_port():
    """A port nothing listens on: bound but not listening, so connections are refused
    (and no other process can take it during the test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def webhooks_to(world, hooks, *tenants: str) -> None:
    for name in tenants:
        tenant = getattr(world, name)
        tenant.webhook_url = hooks.url(f"/hooks/{name}")
        tenant.save(update_fields=["webhook_url"])


def webhook() -> Delivery:
    return Delivery.objects.get(channel=Channel.WEBHOOK)


def emails() -> dict[str, Delivery]:
    return {d.recipient: d for d in Delivery.objects.filter(channel=Channel.EMAIL)}


def attempts(delivery: Delivery) -> list[tuple[bool, str]]:
    return [(a.ok, a.detail) for a in delivery.attempt_log.all()]


# --- e-mail --------------------------------------------------------------------------


def test_each_email_recipient_gets_one_multipart_message_per_notice(in_use, smtp, run_at):
    run_at(T0)
    run_at(T0 + dt.timedelta(hours=1))  # a second pass sends nothing twice
    run_at(local_midnight(DUE_DAYS[2]))
    assert len(smtp.accepted) == 2 * len(CONTACTS)
    for notice in Notice.objects.filter(license=in_use, number__in=[1, 2]):
        subject = messages.render(notice, "en").subject
        to = [m.rcpt_tos for m in smtp.accepted if m.message["Subject"] == subject]
        assert sorted(to) == sorted([address] for address in CONTACTS)
    for mail in smtp.accepted:
        assert mail.message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in mail.message.iter_parts()] == [
            "text/plain",
            "text/html",
        ]


def test_sent_emails_are_sent_deliveries_with_one_ok_attempt(in_use, smtp, run_at):
    result = run_at(T0)
    assert result.delivered == 4
    for delivery in emails().values():
        assert delivery.state == DeliveryState.SENT
        assert delivery.sent_at == T0 and delivery.next_attempt_at is None
        assert delivery.attempts == 1
        assert attempts(delivery) == [(True, "accepted by the SMTP server")]


@pytest.mark.parametrize(
    ("number", "what_next"),
    [
        (1, "the guest Wi-Fi service of these locations stops"),
        (2, "the guest Wi-Fi service of these locations stops"),
        (3, "the guest Wi-Fi service of these locations stops"),
        (4, "the guest Wi-Fi service of these locations stops"),
        (5, "the service of these locations is cut off from today"),
        (6, "the service stays off until the license is renewed"),
    ],
)
def test_an_email_names_the_license_organization_locations_end_date_and_what_next(
    world, in_use, smtp, run_at, number, what_next
):
    beach = Location.objects.create(
        organization=world.org,
        name="Beach & Spa",
        sector="hospitality",
        timezone="Europe/Madrid",
        address="Paseo 4",
        country="ES",
    )
    with time_machine.travel(T0 - dt.timedelta(days=10), tick=False):
        lifecycle.assign(world.org_admin, in_use.pk, beach)
    run_at(local_midnight(DUE_DAYS[number]))
    (mail,) = smtp.to("org@example.com")
    subject, text, html = mail.message["Subject"], mail.part("text/plain"), mail.part("text/html")
    assert in_use.key in subject
    if number < 5:
        assert "2027-07-01" in subject
    for body in (text, html):
        assert in_use.key in body
        assert "of Org " in body
        assert "2027-07-01" in body
        assert "What happens next:" in body and what_next in body
    assert "Locations: Hotel, Beach & Spa" in text
    assert "Locations: Hotel, Beach &amp; Spa" in html  # escaped in HTML only


def test_the_message_id_is_the_deliverys_own(settings, in_use, smtp, run_at):
    settings.DEFAULT_FROM_EMAIL = "licenses@wifi-license-manager.local"
    run_at(T0)
    by_recipient = emails()
    ids = [m.header("Message-ID") for m in smtp.accepted]
    assert len(set(ids)) == 4
    for mail in smtp.accepted:
        delivery = by_recipient[mail.rcpt_tos[0]]
        assert mail.header("Message-ID") == channels.message_id(delivery)
        assert mail.header("Message-ID") == f"<{delivery.key}@wifi-license-manager.local>"
        assert mail.header("Idempotency-Key") == str(delivery.key)


def test_the_message_id_domain_is_that_of_a_from_address_with_a_name(
    settings, in_use, smtp, run_at
):
    settings.DEFAULT_FROM_EMAIL = "WiFi License Manager <licenses@wlm.example>"
    run_at(T0)
    by_recipient = emails()
    for mail in smtp.accepted:
        key = by_recipient[mail.rcpt_tos[0]].key
        assert mail.header("Message-ID") == f"<{key}@wlm.example>"
        assert mail.mail_from == "licenses@wlm.example"


def test_each_recipient_reads_the_notice_in_its_language(world, in_use, smtp, run_at):
    world.org_admin.membership.language = "es"  # an admin's e-mail: the user's language
    world.org_admin.membership.save(update_fields=["language"])
    world.partner.language = "es"  # a tenant's notice contact: the tenant's language
    world.partner.save(update_fields=["language"])
    run_at(T0)
    for address in CONTACTS:
        (mail,) = smtp.to(address)
        subject, text, html = (
            mail.message["Subject"],
            mail.part("text/plain"),
            mail.part("text/html"),
        )
        if address in ("org_admin@example.com", "partner@example.com"):
            # (folded as non-ASCII: the parser keeps the space of the fold)
            assert (
                subject.strip()
                == f"Su licencia Wi-Fi {in_use.key} termina el {END} (dentro de 30 días)"
            )
            assert text.startswith("Hola:")
            assert "dentro de 30 días" in text and "Qué ocurrirá:" in text
            assert '<html lang="es">' in html and "Qué ocurrirá:" in html
        else:
            assert subject == f"Your Wi-Fi license {in_use.key} ends on {END} (in 30 days)"
            assert text.startswith("Hello,")
            assert "in 30 days" in text and "What happens next:" in text
            assert '<html lang="en">' in html


def test_a_refusing_smtp_server_is_retried_after_the_backoff(in_use, smtp, run_at):
    smtp.answer = "550 5.7.1 Not today"
    result = run_at(T0)
    assert (result.delivered, result.retried) == (0, 4)
    assert smtp.accepted == []
    for delivery in emails().values():
        assert delivery.state == DeliveryState.PENDING
        assert delivery.next_attempt_at == T0 + worker.backoff(1) == T0 + dt.timedelta(minutes=1)
        ((ok, detail),) = attempts(delivery)
        assert not ok and "550" in detail and "Not today" in detail
        assert delivery.last_error == detail

    smtp.answer = "250 OK"
    assert run_at(T0 + worker.backoff(1) - SECOND).delivered == 0  # not before its time
    assert run_at(T0 + worker.backoff(1)).delivered == 4
    assert Counter(m.rcpt_tos[0] for m in smtp.accepted) == Counter(CONTACTS)
    for delivery in emails().values():
        assert delivery.state == DeliveryState.SENT
        assert [ok for ok, _ in attempts(delivery)] == [False, True]
    run_at(T0 + dt.timedelta(days=1))
    assert len(smtp.accepted) == 4  # and never again


def test_an_smtp_server_not_listening_is_a_failed_attempt_retried_later(
    settings, in_use, smtp, dead_port, run_at
):
    settings.EMAIL_PORT = dead_port
    assert run_at(T0).retried == 4
    for delivery in emails().values():
        assert delivery.state == DeliveryState.PENDING
        assert delivery.next_attempt_at == T0 + worker.backoff(1)
        ((ok, detail),) = attempts(delivery)
        assert not ok and "Connection refused" in detail

    settings.EMAIL_PORT = smtp.port  # the server is back
    assert run_at(T0 + worker.backoff(1)).delivered == 4
    assert Counter(m.rcpt_tos[0] for m in smtp.accepted) == Counter(CONTACTS)
    assert {d.state for d in emails().values()} == {DeliveryState.SENT}


def test_an_email_fails_after_the_last_attempt_and_is_not_tried_again(
    settings, in_use, smtp, run_at
):
    settings.NOTICE_MAX_ATTEMPTS = 3
    smtp.answer = "451 4.3.0 Try later"
    moment = T0
    for attempt in (1, 2, 3):
        result = run_at(moment)
        assert result.failed == (4 if attempt == 3 else 0)
        moment += worker.backoff(attempt)
    smtp.answer = "250 OK"
    run_at(moment + dt.timedelta(days=7))
    assert smtp.accepted == []
    for delivery in emails().values():
        assert delivery.state == DeliveryState.FAILED
        assert delivery.next_attempt_at is None and delivery.attempts == 3
        assert [ok for ok, _ in attempts(delivery)] == [False, False, False]
        assert "451" in delivery.last_error


# --- webhooks ------------------------------------------------------------------------


def test_a_webhook_posts_the_payload_signed_with_its_tenants_secret(world, in_use, hooks, run_at):
    webhooks_to(world, hooks, "org", "partner", "dist")
    assert run_at(T0).delivered == 4 + 3  # e-mails (locmem) and webhooks
    assert sorted(h.path for h in hooks.hits) == ["/hooks/dist", "/hooks/org", "/hooks/partner"]
    secrets = {f"/hooks/{n}": getattr(world, n).webhook_secret for n in ("org", "partner", "dist")}
    assert len(set(secrets.values())) == 3
    for hit in hooks.hits:
        delivery = Delivery.objects.get(channel=Channel.WEBHOOK, recipient=hooks.url(hit.path))
        assert hit.method == "POST"
        assert json.loads(hit.body) == messages.payload(delivery)
        header = hit.headers["wlm-signature"]
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
        assert header.startswith(f"t={int(T0.timestamp())},")
        assert verify(secrets[hit.path], header, hit.body, now=T0.timestamp())
        for other in set(secrets.values()) - {secrets[hit.path]}:
            assert not verify(other, header, hit.body, now=T0.timestamp())
        assert delivery.state == DeliveryState.SENT
        assert attempts(delivery) == [(True, "HTTP 204")]


def test_a_webhook_body_is_the_documented_payload(world, in_use, hooks, run_at):
    webhooks_to(world, hooks, "dist")
    run_at(T0)
    (hit,) = hooks.hits
    delivery = webhook()
    assert json.loads(hit.body) == {
        "id": str(delivery.key),
        "type": "license.notice",
        "notice": {"number": 1, "due": "2027-06-01", "end_date": "2027-07-01", "meaning": "first"},
        "license": {
            "id": in_use.pk,
            "key": in_use.key,
            "status": "in_use",
            "organization": "Org",
            "locations": ["Hotel"],
            "distributor": "Dist",
            "partner": "Partner",
        },
        "subject": f"Your Wi-Fi license {in_use.key} ends on 2027-07-01 (in 30 days)",
        "language": "en",
    }


def test_a_webhook_carries_its_event_and_idempotency_key(world, in_use, hooks, run_at):
    webhooks_to(world, hooks, "dist")
    run_at(T0)
    (hit,) = hooks.hits
    assert hit.headers["idempotency-key"] == str(webhook().key)
    assert hit.headers["wlm-event"] == "license.notice"
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"] == channels.USER_AGENT


def test_a_500_then_a_204_is_one_failed_attempt_then_sent_after_the_backoff(
    world, in_use, hooks, run_at
):
    webhooks_to(world, hooks, "dist")
    hooks.statuses = [500, 204]
    assert run_at(T0).retried == 1
    delivery = webhook()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at == T0 + worker.backoff(1)
    assert attempts(delivery) == [(False, "HTTP 500")]

    run_at(T0 + worker.backoff(1) - SECOND)
    assert len(hooks.hits) == 1  # not before the backoff
    retry_at = T0 + worker.backoff(1)
    assert run_at(retry_at).delivered == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT and delivery.sent_at == retry_at
    assert attempts(delivery) == [(False, "HTTP 500"), (True, "HTTP 204")]
    first, retry = hooks.hits
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"] == str(delivery.key)
    assert first.body == retry.body
    assert retry.headers["wlm-signature"].startswith(f"t={int(retry_at.timestamp())},")
    signed = retry.headers["wlm-signature"]
    assert verify(world.dist.webhook_secret, signed, retry.body, now=retry_at.timestamp())


def test_any_2xx_answer_is_a_success(world, in_use, hooks, run_at):
    webhooks_to(world, hooks, "dist")
    hooks.statuses = [202]
    assert run_at(T0).delivered
    assert attempts(webhook()) == [(True, "HTTP 202")]


def test_repeated_500s_fail_the_webhook_after_the_last_attempt(
    settings, world, in_use, hooks, run_at
):
    settings.NOTICE_MAX_ATTEMPTS = 8  # the default
    settings.NOTICE_RETRY_BASE_SECONDS = 60  # the default
    webhooks_to(world, hooks, "dist")
    hooks.statuses = [500] * 20
    moment = T0
    for _ in range(20):  # a pass whenever a retry is due, until there is none
        run_at(moment)
        delivery = webhook()
        if delivery.next_attempt_at is None:
            break
        moment = delivery.next_attempt_at
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == 8 and len(hooks.hits) == 8
    log = list(delivery.attempt_log.all())
    assert [(a.ok, a.detail) for a in log] == [(False, "HTTP 500")] * 8
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(log)]
    assert gaps == [worker.backoff(n) for n in range(1, 8)]
    assert gaps[0] == dt.timedelta(minutes=1) and gaps[-1] == dt.timedelta(minutes=64)
    assert {h.headers["idempotency-key"] for h in hooks.hits} == {str(delivery.key)}
    run_at(moment + dt.timedelta(days=2))
    assert len(hooks.hits) == 8  # a failed delivery is not tried again


def test_the_backoff_doubles_from_the_base_and_stops_at_six_hours(settings):
    settings.NOTICE_RETRY_BASE_SECONDS = 60
    assert [worker.backoff(n).total_seconds() for n in range(1, 12)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3840,
        7680,
        15360,
        21600,
        21600,
    ]


def test_a_redirect_is_a_failure_and_its_target_is_not_called(world, in_use, hooks, run_at):
    webhooks_to(world, hooks, "dist")
    hooks.statuses = [302]
    assert run_at(T0).retried == 1
    assert [(h.method, h.path) for h in hooks.hits] == [("POST", "/hooks/dist")]
    delivery = webhook()
    assert delivery.state == DeliveryState.PENDING
    assert attempts(delivery) == [(False, "HTTP 302")]


def test_a_refused_connection_is_a_failure_with_a_readable_error(
    world, in_use, dead_port, run_at, private_webhooks
):
    world.dist.webhook_url = f"http://127.0.0.1:{dead_port}/hooks"
    world.dist.save(update_fields=["webhook_url"])
    assert run_at(T0).retried == 1
    delivery = webhook()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at == T0 + worker.backoff(1)
    assert attempts(delivery) == [(False, "webhook not reached: connection refused")]


def test_a_url_that_does_not_answer_http_is_a_failed_attempt(
    world, in_use, smtp, run_at, private_webhooks
):
    world.dist.webhook_url = f"http://127.0.0.1:{smtp.port}/hooks"  # an SMTP server: "220 …"
    world.dist.save(update_fields=["webhook_url"])
    result = run_at(T0)
    assert result.retried == 1 and result.delivered == 4  # the e-mails still went out
    delivery = webhook()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at == T0 + worker.backoff(1)
    # nothing of what the server sent ("220 … ESMTP …") is kept or shown
    assert attempts(delivery) == [(False, "webhook answer is not HTTP")]


def test_a_webhook_that_does_not_answer_in_time_is_a_failed_attempt(
    settings, world, in_use, run_at, private_webhooks
):
    settings.WEBHOOK_TIMEOUT = 0.2
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        world.dist.webhook_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        world.dist.save(update_fields=["webhook_url"])
        assert run_at(T0).retried == 1
    ((ok, detail),) = attempts(webhook())
    assert not ok and detail == "webhook not reached: timed out"


def test_a_webhook_url_that_is_not_http_is_refused_without_a_connection(
    settings, world, in_use, hooks, run_at
):
    settings.WEBHOOK_TIMEOUT = 0.5
    world.dist.webhook_url = f"ftp://127.0.0.1:{hooks.port}/hooks"  # a valid URLField value
    world.dist.save(update_fields=["webhook_url"])
    assert run_at(T0).retried == 1
    assert hooks.connections == 0
    ((ok, detail),) = attempts(webhook())
    assert not ok and detail == "the webhook URL is not http:// or https://"


def test_the_docs_show_the_verification_that_is_tested():
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (example,) = [b for b in blocks if "def verify(" in b]
    assert inspect.getsource(verify) in example
    assert "MAX_AGE = 5 * 60  # seconds\n" in example
    for name in ("hashlib", "hmac", "time"):
        assert f"import {name}\n" in example


def test_the_verification_refuses_old_tampered_and_malformed_signatures():
    secret, body, t = "s3cret", b'{"id":"x"}', 1_800_000_000
    header = f"t={t},v1={channels.signature(secret, t, body)}"
    assert verify(secret, header, body, now=t + MAX_AGE)
    assert verify(secret, header, body, now=t - MAX_AGE)
    assert not verify(secret, header, body, now=t + MAX_AGE + 1)  # too old: a replay
    assert not verify(secret, header, body + b" ", now=t)
    assert not verify("other", header, body, now=t)
    assert not verify(secret, header.replace(f"t={t}", f"t={t + 1}"), body, now=t)
    for broken in ("", "t=1", f"v1={'0' * 64}", "t=x,v1=00", f"t={t},v1=ñ"):
        assert not verify(secret, broken, body, now=t)


def test_a_delivery_that_cannot_be_sent_does_not_stop_the_others(world, in_use, smtp, run_at):
    # an address stored without validation (a shell, an import): refused by the e-mail code
    User = type(world.org_admin)
    User.objects.filter(pk=world.org_admin.pk).update(email="org@admin@example.com")
    result = run_at(T0)
    assert (result.delivered, result.retried) == (3, 1)
    assert len(smtp.accepted) == 3
    broken = emails()["org@admin@example.com"]
    assert broken.state == DeliveryState.PENDING
    assert broken.next_attempt_at == T0 + worker.backoff(1)
    ((ok, detail),) = attempts(broken)
    assert not ok and 'Invalid address "org@admin@example.com"' in detail
