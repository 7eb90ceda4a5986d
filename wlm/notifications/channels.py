"""Sending one delivery: e-mail over SMTP (Django's mail backends) and signed webhooks.

The in-app inbox needs no sending: its deliveries are written as sent by the worker.

Webhooks (docs/notifications.md has a verification example): a JSON body (``messages.
payload``) POSTed with

- ``WLM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the tenant's
  webhook secret>`` — the receiver recomputes it and refuses old timestamps;
- ``Idempotency-Key: <delivery key>`` — the same on every retry of the same delivery;
- ``WLM-Event: license.notice``.

Any 2xx answer is success; anything else, a redirect, a time-out or a refused
connection is a failed attempt, retried with backoff by the worker. Requests go through
``wlm.lib.outbound``: public addresses only (checked again at connect time, the checked
address used for the connection), one deadline (``WEBHOOK_TIMEOUT``) for the whole
request, and attempt details that hold no byte of what the server sent.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from wlm.lib import clock, outbound
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
    message = messages.stored(delivery)  # as written when the notice was decided
    return send_email(
        [delivery.recipient],
        message.subject,
        message.text,
        message.html,
        headers={"Message-ID": message_id(delivery), "Idempotency-Key": str(delivery.key)},
        connection=connection,
    )


def send_email(to, subject, text, html="", *, headers=None, connection=None) -> str:
    """One e-mail through Django's mail backend (SMTP): a short detail on success,
    ``DeliveryError`` on failure. Notices and the settings page's test e-mail."""
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        headers=headers or {},
        connection=connection,
    )
    if html:
        email.attach_alternative(html, "text/html")
    try:
        email.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"SMTP: {error}") from None
    return "accepted by the SMTP server"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value of ``WLM-Signature``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class TimedOut(DeliveryError):
    """The receiver did not answer within the deadline: the next delivery to the same
    URL would most likely wait as long in vain."""


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook send needs, read from the database beforehand, so that the send
    itself (``post_webhook``) touches no database and can run in a thread."""

    url: str
    body: bytes
    secret: str
    key: str
    event: str = "license.notice"  # WLM-Event; "test" for the settings page's test


def webhook_request(delivery) -> WebhookRequest:
    """The body and the signing secret of a webhook delivery (database reads)."""
    model = TENANT_MODELS.get(delivery.tenant_type)
    tenant = model.objects.filter(pk=delivery.tenant_id).first() if model else None
    if tenant is None:
        raise DeliveryError("the tenant of this webhook no longer exists")
    body = json.dumps(messages.payload(delivery), separators=(",", ":")).encode()
    return WebhookRequest(delivery.recipient, body, tenant.webhook_secret, str(delivery.key))


# Attempt details are fixed texts: nothing the remote server sent (a banner, a reason
# phrase, an error page) is stored or shown, so the attempt log reveals no more than
# "answered with this status" or "did not answer, and how".
_REFUSED = {
    outbound.SCHEME: "the webhook URL is not http:// or https://",
    outbound.HOST: "the webhook URL has no valid host",
    outbound.NOT_FOUND: "webhook not reached: host not found",
    outbound.PRIVATE: "destination not allowed (private address)",
}
_NETWORK_ERRORS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection closed without an answer",
    errno.EPIPE: "connection closed without an answer",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


def post_webhook(request: WebhookRequest, *, timeout: float, allow_private: bool) -> str:
    """POST a signed webhook; ``HTTP <status>`` for a 2xx answer, ``DeliveryError`` (a
    fixed text) otherwise. At most ``timeout`` seconds in all; only public destinations
    unless ``allow_private`` (``wlm.lib.outbound``)."""
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "WLM-Signature": f"t={timestamp},v1={signature(request.secret, timestamp, request.body)}",
        "Idempotency-Key": request.key,
        "WLM-Event": request.event,
    }
    try:
        status = outbound.post(
            request.url, request.body, headers, timeout=timeout, allow_private=allow_private
        )
    except outbound.Refused as refused:
        raise DeliveryError(_REFUSED[refused.reason]) from None
    except TimeoutError:
        raise TimedOut("webhook not reached: timed out") from None
    except ssl.SSLCertVerificationError:
        raise DeliveryError("webhook not reached: TLS certificate not valid") from None
    except ssl.SSLError:
        raise DeliveryError("webhook not reached: TLS failed") from None
    except OSError as error:
        reason = _NETWORK_ERRORS.get(error.errno, "connection failed")
        if isinstance(error, ConnectionResetError):
            reason = "connection closed without an answer"
        raise DeliveryError(f"webhook not reached: {reason}") from None
    except outbound.NotHTTP:
        raise DeliveryError("webhook answer is not HTTP") from None
    if 200 <= status < 300:
        return f"HTTP {status}"
    raise DeliveryError(f"HTTP {status}")  # a redirect too: it is not followed


def _webhook(delivery) -> str:
    return post_webhook(
        webhook_request(delivery),
        timeout=settings.WEBHOOK_TIMEOUT,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
    )
