"""The in-app inbox: whose items a user reads, and marking one read (API and pages)."""

from __future__ import annotations

from django.db.models import F, QuerySet

from wlm.lib import clock
from wlm.lib.pagination import COUNT_LIMIT
from wlm.notifications.models import Channel, Delivery


def inbox_of(user) -> QuerySet:
    """``user``'s own in-app notices, each with ``created`` (when the notice was sent:
    the item's ``sent_at``, its notice's ``decided_at``, read from the item itself so that
    the newest come from the index ``delivery_inbox_sent_idx`` without a join).

    Everyone reads only their own, staff too. Each item carries its message as sent;
    related rows are loaded for the rows written before messages were stored
    (``messages.stored`` renders those, naming the license's organization, partner,
    distributor and locations) and for the license's end date (superseded or not), so a
    page of items costs the same queries as one item. Callers still go through
    ``visible_to(user)``.
    """
    return (
        Delivery.objects.filter(channel=Channel.INBOX, user=user)
        .select_related(
            "notice__license__organization",
            "notice__license__partner",
            "notice__license__distributor",
        )
        .prefetch_related("notice__license__assignments__location")
        .annotate(created=F("sent_at"))
    )


def unread_count(user) -> tuple[int, bool]:
    """(count, capped): ``user``'s unread items it still sees, counted up to the lists'
    ``COUNT_LIMIT``; beyond it the count is that limit and ``capped`` is true (shown as
    "more than 1,000 unread"). Each counted item is checked through the tenancy door, so
    an uncapped count of a large tenant's inbox grew with every notice it received."""
    unread = inbox_of(user).visible_to(user).filter(read_at__isnull=True).order_by()
    counted = unread[: COUNT_LIMIT + 1].count()
    return min(counted, COUNT_LIMIT), counted > COUNT_LIMIT


def mark_read(item: Delivery) -> None:
    """Mark an inbox item read; a second call keeps the first time.

    Not a write to the tenant's data, so every role may mark its own items.
    """
    Delivery.objects.filter(pk=item.pk, read_at__isnull=True).update(read_at=clock.now())
