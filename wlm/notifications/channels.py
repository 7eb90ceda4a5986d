"""Sending one delivery: e-mail over SMTP (Django's mail backends) and signed webhooks.

The in-app inbox needs no sending: its deliveries are written as sent by the worker.

Webhooks (docs/notifications.md has a verification example): a JSON body (``messages.
payload``) POSTed with

- ``WLM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the tenant's
  webhook secret>`` — the receiver recomputes it and refuses old timestamps;
- ``Idempotency-Key: <delivery key>`` — the same on every retry of the same delivery;
- ``WLM-Event: license.notice``.

Any 2xx answer is success; anything else, a redirect, a time-out or a refused
connection is a failed attempt, retried with backoff by the worker.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from wlm.lib import clock
from wlm.notifications import messages
from wlm.notifications.models import Channel
from wlm.tenancy.services import TENANT_MODELS

USER_AGENT = "WiFiLicenseManager-Webhooks/1"


class DeliveryError(Exception):
    """A failed attempt; its text is kept as the attempt's detail."""


def send(delivery, mail_connection=None) -> str:
    """Send one e-mail or webhook delivery; a short detail on success (kept in the
    attempt log), ``DeliveryError`` on failure. ``mail_connection``: an open Django mail
    connection to reuse for several e-mails (one is opened for this one otherwise)."""
    if delivery.channel == Channel.EMAIL:
        return _email(delivery, mail_connection)
    if delivery.channel == Channel.WEBHOOK:
        return _webhook(delivery)
    raise DeliveryError(f"{delivery.channel} deliveries are not sent")


def message_id(delivery) -> str:
    """``<delivery key@domain of the sender>``: the same on every retry of a delivery."""
    # DEFAULT_FROM_EMAIL may carry a display name: "WiFi License Manager <licenses@…>"
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    return f"<{delivery.key}@{domain or 'wifi-license-manager.local'}>"


def _email(delivery, connection=None) -> str:
    message = messages.render(delivery.notice, delivery.language)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient],
        headers={"Message-ID": message_id(delivery), "Idempotency-Key": str(delivery.key)},
        connection=connection,
    )
    email.attach_alternative(message.html, "text/html")
    try:
        email.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"SMTP: {error}") from None
    return "accepted by the SMTP server"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value of ``WLM-Signature``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer that is not 2xx: a failed attempt


_opener = urllib.request.build_opener(_NoRedirects)


def _webhook(delivery) -> str:
    # a URLField also accepts ftp:// (and urllib would follow it): a webhook is HTTP
    if urllib.parse.urlsplit(delivery.recipient).scheme.lower() not in ("http", "https"):
        raise DeliveryError("the webhook URL is not http:// or https://")
    model = TENANT_MODELS.get(delivery.tenant_type)
    tenant = model.objects.filter(pk=delivery.tenant_id).first() if model else None
    if tenant is None:
        raise DeliveryError("the tenant of this webhook no longer exists")
    body = json.dumps(messages.payload(delivery), separators=(",", ":")).encode()
    timestamp = int(clock.now().timestamp())
    signed = signature(tenant.webhook_secret, timestamp, body)
    request = urllib.request.Request(  # noqa: S310 (a tenant's https/http URL, validated)
        delivery.recipient,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "WLM-Signature": f"t={timestamp},v1={signed}",
            "Idempotency-Key": str(delivery.key),
            "WLM-Event": "license.notice",
        },
    )
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        error.close()
        raise DeliveryError(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"webhook not reached: {reason}") from None
    except http.client.HTTPException as error:  # e.g. a URL whose server speaks no HTTP
        raise DeliveryError(f"webhook answer is not HTTP: {str(error).strip()}") from None
