"""The tenant's settings page (docs/settings.md): who reads and who changes it, the
changes through ``update_tenant`` (the API's rules and audit), the secret shown once,
"Send test" through the real channels (a real HTTP server checking the signature, a real
SMTP server) and its throttle, and the delivery log through the tenancy door."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from wlm.audit.models import AuditEntry, Kind
from wlm.notifications.models import Channel, Delivery, DeliveryState
from wlm.notifications.tests.hooks import verify
from wlm.tenancy.models import Organization

ORG_URL = "/settings/organization/{pk}/"
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def url(world, suffix: str = "") -> str:
    return ORG_URL.format(pk=world.org.pk) + suffix


def login(client, user):
    client.force_login(user)
    return client


# --- who may read and change -------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "reads", "writes"),
    [
        ("org_admin", 200, True),
        ("staff", 200, True),
        ("org_viewer", 200, False),
        ("staff_viewer", 200, False),
        ("other_org_admin", 404, False),
        ("partner_admin", 404, False),  # manages the organization, but this is its own page
        ("dist_admin", 404, False),
        ("gateway", 403, False),
    ],
)
def test_access_matrix(client, world, person, reads, writes):
    """Every role, on the page and on each of its three POSTs: the tenant's admin and
    staff admins read and change; viewers (the tenant's, staff's) read and are refused
    every change (403); any other tenant's user finds nothing (404); the gateway is
    refused (403). Nothing changes on a refusal."""
    Organization.objects.filter(pk=world.org.pk).update(webhook_url="https://hooks.example/x")
    before = Organization.objects.get(pk=world.org.pk)
    login(client, getattr(world, person))
    page = client.get(url(world))
    assert page.status_code == reads, person
    posts = {
        "": {"email": "new@example.com", "webhook_url": "", "language": "es"},
        "webhook-secret/": {},
        "test/": {"channel": "email"},
    }
    if writes:
        assert 'data-testid="settings-form"' in page.content.decode()
        assert "https://hooks.example/x" in page.content.decode()
        return
    if reads == 200:  # a reader: the values without the webhook URL (credentials)
        content = page.content.decode()
        assert 'data-testid="settings-read-only"' in content
        assert "org@example.com" in content and "hooks.example" not in content
        assert 'data-testid="settings-form"' not in content
        assert 'data-testid="rotate-form"' not in content
    refused = 403 if reads in (200, 403) else 404
    for suffix, data in posts.items():
        assert client.post(url(world, suffix), data).status_code == refused, (person, suffix)
    after = Organization.objects.get(pk=world.org.pk)
    assert (after.email, after.language, after.webhook_secret) == (
        before.email,
        before.language,
        before.webhook_secret,
    )
    assert not AuditEntry.objects.filter(
        kind__in=[Kind.TENANT_SETTINGS_CHANGED, Kind.WEBHOOK_SECRET_ROTATED]
    ).exists()


def test_anonymous_is_sent_to_log_in(client, world):
    for target in ("/settings/", url(world)):
        answer = client.get(target)
        assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    answer = client.post(url(world, "webhook-secret/"))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


@pytest.mark.parametrize(
    ("person", "target"),
    [
        ("org_admin", "/settings/organization/{org}/"),
        ("org_viewer", "/settings/organization/{org}/"),
        ("partner_viewer", "/settings/partner/{partner}/"),
        ("dist_admin", "/settings/distributor/{dist}/"),
    ],
)
def test_settings_home_opens_the_users_own_tenant(client, world, person, target):
    login(client, getattr(world, person))
    answer = client.get("/settings/")
    ids = {"org": world.org.pk, "partner": world.partner.pk, "dist": world.dist.pk}
    assert answer.status_code == 302 and answer["Location"] == target.format(**ids)


def test_staff_choose_any_tenant(client, world):
    login(client, world.staff)
    assert 'data-testid="settings-choose"' in client.get("/settings/").content.decode()
    answer = client.get(
        "/settings/", {"tenant_type": "partner", "tenant_id": world.other_partner.pk}
    )
    assert answer["Location"] == f"/settings/partner/{world.other_partner.pk}/"
    assert client.get(answer["Location"]).status_code == 200
    assert client.get("/settings/", {"tenant_type": "staff", "tenant_id": "x"}).status_code == 400
    assert client.get("/settings/nothing/1/").status_code == 404
    assert client.get(f"/settings/organization/{2**64}/").status_code == 404
    assert client.get("/settings/organization/999999/").status_code == 404


# --- changing the settings ---------------------------------------------------------------


def test_the_admin_changes_the_contacts_with_an_audit_entry(client, world):
    login(client, world.org_admin)
    data = {"email": "alerts@example.com", "webhook_url": "", "language": "es"}
    answer = client.post(url(world), data)
    assert answer.status_code == 302 and answer["Location"] == url(world)
    org = Organization.objects.get(pk=world.org.pk)
    assert (org.email, org.language) == ("alerts@example.com", "es")
    entry = AuditEntry.objects.get(kind=Kind.TENANT_SETTINGS_CHANGED)
    assert entry.before["email"] == "org@example.com"
    assert entry.after["email"] == "alerts@example.com"
    assert "The settings are saved." in client.get(url(world)).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"webhook_url": "http://127.0.0.1:8080/hook"}, "webhook_url", "private"),
        ({"webhook_url": "ftp://hooks.example/x"}, "webhook_url", "http:// or https://"),
        ({"email": "not an address"}, "email", "Enter a valid email address."),
        ({"language": "fr"}, "language", "Select a valid choice."),
    ],
)
def test_bad_input_is_a_form_error_and_nothing_changes(client, world, data, field, message):
    """The webhook URL is judged by the model's validator through ``update_tenant`` (the
    API's rule: a public address), not by a second check of the page."""
    login(client, world.org_admin)
    posted = {"email": "changed@example.com", "webhook_url": "", "language": "en"} | data
    answer = client.post(url(world), posted)
    assert answer.status_code == 400
    form = answer.context["form"]
    assert field in form.errors and message in " ".join(form.errors[field])
    org = Organization.objects.get(pk=world.org.pk)
    assert (org.email, org.webhook_url) == ("org@example.com", "")
    assert not AuditEntry.objects.filter(kind=Kind.TENANT_SETTINGS_CHANGED).exists()


def test_the_new_secret_is_shown_once(client, world):
    login(client, world.org_admin)
    old = world.org.webhook_secret
    answer = client.post(url(world, "webhook-secret/"))
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    secret = Organization.objects.get(pk=world.org.pk).webhook_secret
    assert secret != old and secret in answer.content.decode()
    assert AuditEntry.objects.filter(kind=Kind.WEBHOOK_SECRET_ROTATED).count() == 1
    assert secret not in client.get(url(world)).content.decode()


# --- Send test ----------------------------------------------------------------------------


def test_the_test_webhook_reaches_the_receiver_signed(client, world, hooks):
    Organization.objects.filter(pk=world.org.pk).update(webhook_url=hooks.url("/wlm"))
    login(client, world.org_admin)
    answer = client.post(url(world, "test/"), {"channel": "webhook"})
    assert answer.status_code == 200
    outcome = answer.context["outcome"]
    assert (outcome.ok, outcome.detail) == (True, "HTTP 204")
    assert "HTTP 204" in answer.content.decode()
    (hit,) = hooks.hits
    secret = Organization.objects.get(pk=world.org.pk).webhook_secret
    assert hit.path == "/wlm" and hit.headers["wlm-event"] == "test"
    assert verify(secret, hit.headers["wlm-signature"], hit.body)
    assert not verify("another secret", hit.headers["wlm-signature"], hit.body)
    body = json.loads(hit.body)
    assert body["type"] == "test" and body["id"] == hit.headers["idempotency-key"]
    assert body["tenant"] == {"type": "organization", "id": world.org.pk, "name": "Org"}
    assert not Delivery.objects.exists()  # a test is no notice


def test_the_test_webhook_shows_the_receivers_status(client, world, hooks):
    Organization.objects.filter(pk=world.org.pk).update(webhook_url=hooks.url("/wlm"))
    hooks.statuses.append(500)
    login(client, world.org_admin)
    answer = client.post(url(world, "test/"), {"channel": "webhook"})
    assert answer.context["outcome"].ok is False
    assert "Not delivered" in answer.content.decode() and "HTTP 500" in answer.content.decode()


def test_the_test_webhook_is_refused_to_a_private_address(client, world):
    """Without ``WEBHOOK_ALLOW_PRIVATE`` (the tests' ``private_webhooks``), a URL stored
    before the rule (or whose host now resolves privately) is refused by the channel."""
    Organization.objects.filter(pk=world.org.pk).update(webhook_url="http://127.0.0.1:9/hook")
    login(client, world.org_admin)
    answer = client.post(url(world, "test/"), {"channel": "webhook"})
    outcome = answer.context["outcome"]
    assert (outcome.ok, outcome.detail) == (False, "destination not allowed (private address)")


def test_the_test_email_goes_through_smtp(client, world, smtp):
    Organization.objects.filter(pk=world.org.pk).update(language="es")
    login(client, world.org_admin)
    answer = client.post(url(world, "test/"), {"channel": "email"})
    assert answer.context["outcome"].ok is True
    (mail,) = smtp.to("org@example.com")
    assert "Org" in mail.message.get_body(("plain",)).get_content()


def test_a_missing_contact_is_said(client, world):
    Organization.objects.filter(pk=world.org.pk).update(email="")
    login(client, world.org_admin)
    for channel, message in (("email", "No notice e-mail is set."), ("webhook", "No webhook URL")):
        answer = client.post(url(world, "test/"), {"channel": channel})
        assert answer.status_code == 400 and message in answer.content.decode()
    assert client.post(url(world, "test/"), {"channel": "fax"}).status_code == 400


def test_send_test_is_throttled_per_tenant(client, world, hooks):
    """Five tests a minute per tenant (both channels together): the sixth is a 429 with
    Retry-After, and is not sent; a minute later, one may send again. Another tenant's
    tests are counted apart."""
    Organization.objects.filter(pk__in=[world.org.pk, world.other_org.pk]).update(
        webhook_url=hooks.url("/wlm")
    )
    login(client, world.org_admin)
    assert "At most 5 tests a minute for this tenant." in client.get(url(world)).content.decode()
    with time_machine.travel(NOW, tick=False):
        for _n in range(5):
            assert client.post(url(world, "test/"), {"channel": "webhook"}).status_code == 200
        refused = client.post(url(world, "test/"), {"channel": "webhook"})
        assert refused.status_code == 429 and refused["Retry-After"] == "60"
        assert "Too many tests for this tenant" in refused.content.decode()
        assert len(hooks.hits) == 5
        other = login(client, world.other_org_admin).post(
            f"/settings/organization/{world.other_org.pk}/test/", {"channel": "webhook"}
        )
        assert other.status_code == 200
    login(client, world.org_admin)
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        assert client.post(url(world, "test/"), {"channel": "webhook"}).status_code == 200
    assert len(hooks.hits) == 7


# --- the delivery log --------------------------------------------------------------------


def _deliveries(world, in_use):
    notice = in_use.notices.order_by("number").first()
    rows = []
    for n in range(30):
        rows.append(
            Delivery.objects.create(
                notice=notice,
                channel=[Channel.EMAIL, Channel.WEBHOOK][n % 2],
                recipient=[f"org{n}@example.com", f"https://user:pw@hooks.example/{n}"][n % 2],
                tenant_type="organization",
                tenant_id=world.org.pk,
                state=[DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.PENDING][n % 3],
                last_error="HTTP 500 from hooks.example" if n % 2 else "",
            )
        )
    other = Delivery.objects.create(
        notice=notice,
        channel=Channel.EMAIL,
        recipient="partner@example.com",
        tenant_type="partner",
        tenant_id=world.partner.pk,
    )
    return rows, other


def _ids(answer) -> list[int]:
    return [row.pk for row in answer.context["deliveries"]]


def test_the_delivery_log_newest_first_filtered_and_paginated(client, world, in_use):
    rows, other = _deliveries(world, in_use)
    login(client, world.org_admin)
    first = client.get(url(world))
    newest = [row.pk for row in reversed(rows)]
    assert _ids(first) == newest[:25]
    assert other.pk not in _ids(first)
    assert _ids(client.get(url(world), {"page": 2})) == newest[25:]
    failed = client.get(url(world), {"state": "failed"})
    assert _ids(failed) == [row.pk for row in reversed(rows) if row.state == "failed"]
    hooks_only = client.get(url(world), {"channel": "webhook", "state": "sent"})
    expected = [r.pk for r in reversed(rows) if r.channel == "webhook" and r.state == "sent"]
    assert _ids(hooks_only) == expected
    fragment = client.get(
        url(world), {"channel": "email"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    assert (
        "<h1>" not in fragment.content.decode()
        and 'data-testid="delivery-log"' in fragment.content.decode()
    )
    bad = client.get(url(world), {"state": "nonsense"})  # said, and the filter ignored
    assert bad.status_code == 200 and "The filter is not valid." in bad.content.decode()
    assert _ids(bad) == newest[:25]


def test_the_delivery_log_masks_the_webhook_url_for_a_viewer(client, world, in_use):
    _deliveries(world, in_use)
    login(client, world.org_viewer)
    content = client.get(url(world), {"channel": "webhook"}).content.decode()
    assert "hooks.example" not in content and "organization contact" in content
    login(client, world.org_admin)
    assert "https://user:pw@hooks.example/29" in client.get(url(world)).content.decode()
