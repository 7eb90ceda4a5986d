"""Reads of notices that other apps show: who may see a delivery's recipient, and the
license view's flat list of notices. Plain rows and dicts; the API and the pages shape
them (``wlm.notifications.serializers``, the licenses pages).

A delivery's recipient (an e-mail address, a webhook URL, a username) is shown to staff
and to the tenant it belongs to; everyone else reads a label such as "partner contact"
(docs/api.md, "Notifications and inbox").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.db.models import F, Prefetch
from django.utils.translation import gettext_lazy as _

from wlm.notifications.filters import ShownState
from wlm.notifications.models import Channel, Delivery, Notice, NoticeState
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import Actor, actor_of
from wlm.tenancy.services import webhook_credentials_shown

# --- Recipients: shown to their own tenant and to staff ------------------------------

CONTACT_LABELS = {
    TenantType.DISTRIBUTOR: _("distributor contact"),
    TenantType.PARTNER: _("partner contact"),
    TenantType.ORGANIZATION: _("organization contact"),
}


def shows_recipient(actor: Actor, tenant_type: str, tenant_id: int | None, channel: str) -> bool:
    """Staff see every recipient; a tenant's users see their own tenant's. A webhook URL
    (often with credentials in it) only as the tenant row shows it: to its admins and
    staff admins."""
    if channel == Channel.WEBHOOK:
        return webhook_credentials_shown(actor, tenant_type, tenant_id)
    if actor.is_staff:
        return True
    return bool(tenant_type) and actor.tenant_type == tenant_type and actor.tenant_id == tenant_id


def recipient_label(tenant_type: str) -> str:
    """What is shown instead of a recipient the reader may not see."""
    return str(CONTACT_LABELS.get(tenant_type, _("contact")))


def scrub(text: str, recipient: str, label: str) -> str:
    """``text`` without the recipient: SMTP refusals quote the address, TLS errors the
    webhook's host name."""
    if not text:
        return text
    hidden = [recipient]
    host = urlsplit(recipient).hostname if "://" in recipient else None
    if host:
        hidden.append(host)
    for secret in sorted(filter(None, hidden), key=len, reverse=True):
        text = re.sub(re.escape(secret), label, text, flags=re.IGNORECASE)
    return text


# --- The license view's notices --------------------------------------------------------


def _notices_with_deliveries():
    # A LEFT JOIN: one row per delivery, and one for a notice without any — the whole
    # list in one query, in its order.
    return Notice.objects.annotate(
        delivery_pk=F("deliveries__id"),
        delivery_channel=F("deliveries__channel"),
        delivery_recipient=F("deliveries__recipient"),
        delivery_state=F("deliveries__state"),
        delivery_sent_at=F("deliveries__sent_at"),
        delivery_tenant_type=F("deliveries__tenant_type"),
        delivery_tenant_id=F("deliveries__tenant_id"),
    ).order_by("due", "number", "delivery_pk")


def license_notices_prefetch() -> Prefetch:
    """For the license view's queryset: its notices and deliveries in one query."""
    return Prefetch("notices", _notices_with_deliveries(), to_attr="notice_lines")


def license_notice_lines(license, user) -> list[dict]:
    """The license view's notices, ordered by due day then number: one line per delivery
    of a decided notice, one per scheduled or skipped notice; recipients masked for
    ``user``, with the labels of the state and channel for the page. Dates stay dates:
    the API serializes them, the pages format them."""
    rows = getattr(license, "notice_lines", None)
    if rows is None:
        rows = list(_notices_with_deliveries().filter(license=license))
    actor = actor_of(user)
    lines = []
    seen: set[int] = set()
    for row in rows:
        if row.state != NoticeState.SENT or row.delivery_pk is None:
            if row.pk in seen:
                continue
            seen.add(row.pk)
            state = {
                NoticeState.SCHEDULED: ShownState.PENDING,
                NoticeState.SKIPPED: ShownState.SKIPPED,
            }.get(row.state, ShownState.SENT)  # sent to nobody: nothing is left to do
            lines.append(_line(row, state, None, None, None))
            continue
        recipient = row.delivery_recipient
        if not shows_recipient(
            actor, row.delivery_tenant_type, row.delivery_tenant_id, row.delivery_channel
        ):
            recipient = recipient_label(row.delivery_tenant_type)
        lines.append(
            _line(row, row.delivery_state, row.delivery_sent_at, row.delivery_channel, recipient)
        )
    return lines


def _line(notice, state, sent_at, channel, recipient) -> dict:
    return {
        "number": notice.number,
        "due": notice.due,
        "state": str(state),
        "state_label": ShownState(state).label,
        "sent_at": sent_at,
        "channel": channel,
        "channel_label": Channel(channel).label if channel else "",
        "recipient": recipient,
    }


# --- The settings page's delivery log ---------------------------------------------------


def tenant_deliveries(user, tenant_type: str, tenant_id: int):
    """The deliveries of notices to one tenant (its contacts and its users' inboxes)
    that ``user`` sees through the tenancy door, newest first (``delivery_tenant_idx``)."""
    return (
        Delivery.objects.visible_to(user)
        .filter(tenant_type=tenant_type, tenant_id=tenant_id)
        .select_related("notice")
        .order_by("-id")
    )


def mask_deliveries(rows, user) -> None:
    """Each row's ``shown_recipient`` and ``shown_error``: the recipient, or its label
    where ``user`` may not see it (a webhook URL to a viewer), and the last error without
    it."""
    actor = actor_of(user)
    for row in rows:
        if shows_recipient(actor, row.tenant_type, row.tenant_id, row.channel):
            row.shown_recipient, row.shown_error = row.recipient, row.last_error
        else:
            label = recipient_label(row.tenant_type)
            row.shown_recipient = label
            row.shown_error = scrub(row.last_error, row.recipient, label)
