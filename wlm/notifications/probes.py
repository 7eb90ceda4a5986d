"""The settings page's "Send test": one signed test webhook, or one test e-mail, to a
tenant's notice contacts, through the real channels (``wlm.notifications.channels``:
the webhook signed with the tenant's secret and refused to non-public addresses, the
e-mail by the SMTP backend). Nothing is stored: a test is no notice and has no delivery
row (docs/settings.md).

Throttled per tenant, both channels together: ``settings_test`` of
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (5 a minute by default,
``THROTTLE_SETTINGS_TEST``), so that the page cannot be used to flood a receiver.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from wlm.lib import clock
from wlm.lib.throttles import AttemptCounter
from wlm.notifications import channels
from wlm.tenancy.services import TENANT_TYPES, holds_webhook_credentials

WEBHOOK = "webhook"
EMAIL = "email"


class ProbeThrottled(Exception):
    """Too many test sends for this tenant; ``wait`` seconds until the next."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass(frozen=True)
class Outcome:
    """What the test's channel answered: ``detail`` is the channel's own fixed text
    ("HTTP 204", "connection refused", "SMTP: …")."""

    channel: str
    ok: bool
    detail: str


def _counter(tenant) -> AttemptCounter:
    return AttemptCounter("settings_test", f"{TENANT_TYPES[type(tenant)]}:{tenant.pk}")


def per_minute() -> int | None:
    """How many tests a minute the rate allows, for the page to say (None: the rate is
    not per minute, or there is none)."""
    counter = AttemptCounter("settings_test", "")
    return counter.num_requests if counter.duration == 60 else None


def send_test(user, tenant, channel: str) -> Outcome:
    """Send a test on ``channel`` (``webhook`` or ``email``) to the tenant's contact.

    ``PermissionDenied`` unless the user holds the tenant's webhook credentials (its own
    admins, staff admins); ``ValidationError`` when the contact is not set;
    ``ProbeThrottled`` over the rate (a refused test is not counted)."""
    if not holds_webhook_credentials(user, tenant):
        raise PermissionDenied(_("Only the tenant's own admins and staff admins send tests."))
    if channel == WEBHOOK and not tenant.webhook_url:
        raise ValidationError(_("No webhook URL is set."))
    if channel == EMAIL and not tenant.email:
        raise ValidationError(_("No notice e-mail is set."))
    if channel not in (WEBHOOK, EMAIL):
        raise ValidationError(_("Choose the webhook or the e-mail."))
    counter = _counter(tenant)
    wait = counter.wait()
    if wait is not None:
        raise ProbeThrottled(wait)
    counter.count()
    send = _webhook if channel == WEBHOOK else _email
    try:
        return Outcome(channel, True, send(tenant))
    except channels.DeliveryError as error:
        return Outcome(channel, False, str(error))


def probe_body(tenant, key: str) -> bytes:
    """The test webhook's JSON body (docs/settings.md)."""
    body = {
        "id": key,
        "type": "test",
        "tenant": {"type": TENANT_TYPES[type(tenant)], "id": tenant.pk, "name": tenant.name},
        "sent_at": clock.now().isoformat(),
        "language": tenant.language,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _webhook(tenant) -> str:
    key = str(uuid.uuid4())
    request = channels.WebhookRequest(
        url=tenant.webhook_url,
        body=probe_body(tenant, key),
        secret=tenant.webhook_secret,
        key=key,
        event="test",
    )
    return channels.post_webhook(
        request, timeout=settings.WEBHOOK_TIMEOUT, allow_private=settings.WEBHOOK_ALLOW_PRIVATE
    )


def _email(tenant) -> str:
    with translation.override(tenant.language):
        subject = _("Test e-mail from WiFi License Manager")
        text = _(
            "This is a test of the notice e-mail of %(tenant)s. Expiry notices of its "
            "licenses are sent to this address. Nothing needs to be done."
        ) % {"tenant": tenant.name}
    return channels.send_email([tenant.email], subject, text)
