"""Expiry notices and their deliveries (DESIGN §5; docs/notifications.md).

A license's cycle (one end date) is written ahead as six ``Notice`` rows in state
``scheduled`` when the end date is set; the notifier decides each when it is due —
``sent`` (its deliveries are written in the same transaction: the outbox) or ``skipped``
(a notifier that was down sends only the latest due). The unique (license, end date,
number) constraint is the "at most once" of each notice; "what is due" is the partial
index on scheduled notices by due time, so a pass costs O(due), not O(licenses).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from wlm.tenancy.models import NOTICE_LANGUAGES
from wlm.tenancy.scoping import ChildScopedQuerySet


class NoticeState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")  # the API's "pending" before its day
    SENT = "sent", _("Sent")  # decided; deliveries written (each has its own state)
    SKIPPED = "skipped", _("Skipped")  # missed while the notifier was down


class NoticeQuerySet(ChildScopedQuerySet):
    parent_path = "license"


class Notice(models.Model):
    license = models.ForeignKey(
        "licenses.License",
        on_delete=models.CASCADE,
        related_name="notices",
        verbose_name=_("license"),
    )
    end_date = models.DateField(_("end date of the cycle"))
    number = models.PositiveSmallIntegerField(_("number"))
    due = models.DateField(_("due (local day)"))
    due_at = models.DateTimeField(_("due at"))
    state = models.CharField(
        _("state"), max_length=10, choices=NoticeState.choices, default=NoticeState.SCHEDULED
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    objects = NoticeQuerySet.as_manager()

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["due_at", "number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "end_date", "number"], name="notice_once_per_cycle"
            ),
            models.CheckConstraint(
                name="notice_number_1_to_6", condition=Q(number__gte=1, number__lte=6)
            ),
        ]
        indexes = [
            # what is due: only scheduled rows are in it
            models.Index(
                fields=["due_at"],
                name="notice_due_idx",
                condition=Q(state=NoticeState.SCHEDULED),
            ),
            models.Index(fields=["license", "due_at"], name="notice_license_idx"),
            # the notices list's order (due_at, number, id) is notice_order_idx, PostgreSQL
            # only (migration 0007: INCLUDE license_id, so a tenant's notices are picked
            # from the index alone); no model state
            # the dashboard's latest notices: newest decided first, read from the index
            # instead of sorting every decided notice (seconds at 1,000,000 licenses)
            models.Index(
                F("decided_at").desc(),
                F("id").desc(),
                name="notice_decided_idx",
                condition=Q(decided_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"notice {self.number} of license {self.license_id} ({self.end_date})"

    @property
    def is_superseded(self) -> bool:
        """The license's end date is no longer the one this notice spoke of (a renewal
        moved it; nothing else changes an end date once set): what the notice said was
        true when it was sent, not now."""
        end_date = self.license.end_date
        return end_date is not None and end_date != self.end_date


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")
    INBOX = "inbox", _("In-app inbox")


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")  # gave up after the last attempt


class DeliveryQuerySet(ChildScopedQuerySet):
    parent_path = "notice__license"


class Delivery(models.Model):
    """One notice to one recipient of one tenant on one channel: the outbox row.

    ``key`` is the idempotency key (the e-mail's Message-ID, the webhook's
    ``Idempotency-Key``): a delivery retried after a crash carries the same key.
    ``subject``, ``text`` and ``html`` are the message as it was written when the notice
    was decided (what the channel uses of it: the webhook only the subject, the inbox no
    HTML); rows written before messages were stored have them empty
    (``messages.stored`` renders those when read).

    An inbox item is delivered by being written, in the transaction that decides its
    notice: its ``sent_at`` is the notice's ``decided_at`` (migration 0006 made older
    rows so), and the inbox is ordered by it from its own index, without a join.
    """

    notice = models.ForeignKey(
        Notice, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("notice")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("user"),
    )
    language = models.CharField(_("language"), max_length=8, choices=NOTICE_LANGUAGES, default="en")
    # the tenant whose contact this is (webhooks are signed with its secret)
    tenant_type = models.CharField(_("tenant type"), max_length=20, blank=True)
    tenant_id = models.PositiveBigIntegerField(_("tenant id"), null=True, blank=True)
    key = models.UUIDField(_("idempotency key"), default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        _("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)  # inbox only
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    text = models.TextField(_("text"), blank=True)
    html = models.TextField(_("HTML"), blank=True)  # e-mail only

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["id"]
        constraints = [
            # per tenant: two tenants with the same address each get their own delivery
            models.UniqueConstraint(
                fields=["notice", "tenant_type", "tenant_id", "channel", "recipient"],
                name="delivery_once_per_tenant_recipient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=Q(state=DeliveryState.PENDING),
            ),
            # a tenant's delivery log (the settings page), newest first
            models.Index(fields=["tenant_type", "tenant_id", "-id"], name="delivery_tenant_idx"),
            # a user's inbox, newest first (``inbox_of``'s ``created`` is ``sent_at``)
            models.Index(
                fields=["user", "-sent_at", "-id"],
                name="delivery_inbox_sent_idx",
                condition=Q(channel="inbox"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.state})"


class Attempt(models.Model):
    """One try of a delivery, kept so that failures and retries are visible."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    at = models.DateTimeField(_("at"))
    ok = models.BooleanField(_("ok"))
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'} at {self.at}"
