"""REST API of notices: the notices of the licenses a user sees, with their deliveries and
attempts; the flat notice list of the license view; and the user's in-app inbox.

A delivery's recipient (an e-mail address, a webhook URL, a username) is shown to staff
and to the tenant it belongs to; everyone else reads a label such as "partner contact"
(docs/api.md, "Notifications and inbox").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.db.models import F, Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.notifications import messages, services
from wlm.notifications.filters import (
    InboxFilterSet,
    NoticeFilterSet,
    ShownState,
    with_shown_state,
)
from wlm.notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Notice,
    NoticeState,
)
from wlm.tenancy.models import TenantType
from wlm.tenancy.permissions import TenantPermission
from wlm.tenancy.scoping import Actor, actor_of
from wlm.tenancy.services import webhook_credentials_shown

# --- Recipients: shown to their own tenant and to staff ------------------------------

CONTACT_LABELS = {
    TenantType.DISTRIBUTOR: _("distributor contact"),
    TenantType.PARTNER: _("partner contact"),
    TenantType.ORGANIZATION: _("organization contact"),
}


def _actor(context: dict) -> Actor:
    request = context.get("request")
    return actor_of(getattr(request, "user", None))


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
    return str(CONTACT_LABELS.get(tenant_type, _("contact")))


def _scrub(text: str, recipient: str, label: str) -> str:
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


# --- GET /notifications/ -------------------------------------------------------------


# The two state enums are named components: "state" already names the license requests'.
@extend_schema_field(
    {"type": "string", "enum": ShownState.values, "description": ShownState.__doc__},
    component_name="NoticeState",
)
class NoticeStateField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=ShownState.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": DeliveryState.values}, component_name="DeliveryState"
)
class DeliveryStateField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=DeliveryState.choices, **kwargs)


class AttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    recipient = serializers.CharField(
        help_text=_("Shown to staff and to the tenant it belongs to; a label for others.")
    )
    state = DeliveryStateField()
    attempts = serializers.IntegerField()
    sent_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    attempt_log = AttemptSerializer(many=True)

    def to_representation(self, delivery):
        data = super().to_representation(delivery)
        if not shows_recipient(
            _actor(self.context), delivery.tenant_type, delivery.tenant_id, delivery.channel
        ):
            label = recipient_label(delivery.tenant_type)
            data["recipient"] = label
            data["last_error"] = _scrub(data["last_error"], delivery.recipient, label)
            for attempt in data["attempt_log"]:
                attempt["detail"] = _scrub(attempt["detail"], delivery.recipient, label)
        return data


class NotificationSerializer(serializers.ModelSerializer):
    """One notice of a license's cycle and what became of it."""

    key = serializers.CharField(source="license.key", read_only=True)
    state = NoticeStateField(source="shown_state")
    sent_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When its latest delivery went out.")
    )
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "license",
            "key",
            "number",
            "due",
            "due_at",
            "end_date",
            "state",
            "decided_at",
            "sent_at",
            "deliveries",
        ]
        read_only_fields = fields


class NotificationViewSet(ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The notices of the licenses the caller sees: sent, skipped, failed and upcoming."""

    model = Notice
    serializer_class = NotificationSerializer
    filterset_class = NoticeFilterSet
    ordering_fields = ["due_at", "due", "number", "sent_at"]
    ordering = ["due_at", "number", "id"]
    csv_filename = "notifications"

    def base_queryset(self):
        notices = Notice.objects.select_related("license").prefetch_related(
            Prefetch("deliveries", Delivery.objects.order_by("id")), "deliveries__attempt_log"
        )
        return with_shown_state(notices)


# --- The license view's notices --------------------------------------------------------


class LicenseNoticeSerializer(serializers.Serializer):
    """One line of the license view's notices: a delivery of a decided notice, or a
    scheduled or skipped notice (no channel, no recipient)."""

    number = serializers.IntegerField()
    due = serializers.DateField()
    state = NoticeStateField()
    sent_at = serializers.DateTimeField(allow_null=True)
    channel = serializers.ChoiceField(choices=Channel.choices, allow_null=True)
    recipient = serializers.CharField(allow_null=True)


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
    """The license view's ``notifications``, ordered by due day then number."""
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
    return LicenseNoticeSerializer(lines, many=True).data


def _line(notice, state, sent_at, channel, recipient) -> dict:
    return {
        "number": notice.number,
        "due": notice.due,
        "state": str(state),
        "sent_at": sent_at,
        "channel": channel,
        "recipient": recipient,
    }


# --- The in-app inbox ------------------------------------------------------------------


class OwnInboxPermission(TenantPermission):
    """Every user of a tenant, any role, reads and marks its own inbox; marking an item
    read is not a write to the tenant's data. Not the gateway."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        actor = actor_of(request.user)
        return actor.tenant_type is not None and not actor.is_gateway


class InboxItemSerializer(serializers.ModelSerializer):
    license = serializers.IntegerField(source="notice.license_id")
    key = serializers.CharField(source="notice.license.key")
    number = serializers.IntegerField(source="notice.number")
    due = serializers.DateField(source="notice.due")
    subject = serializers.SerializerMethodField(help_text=_("As it was sent."))
    text = serializers.SerializerMethodField(
        help_text=_("As it was sent: plain text (escape it to show it in HTML).")
    )
    superseded = serializers.BooleanField(
        source="notice.is_superseded",
        help_text=_(
            "The license was renewed since: its end date is no longer the one this notice spoke of."
        ),
    )
    created = serializers.DateTimeField(
        source="notice.decided_at", help_text=_("When the notice was sent.")
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "license",
            "key",
            "number",
            "due",
            "subject",
            "text",
            "superseded",
            "read_at",
            "created",
        ]
        read_only_fields = fields

    def _message(self, delivery) -> messages.Message:
        if not hasattr(delivery, "_message"):
            delivery._message = messages.stored(delivery)
        return delivery._message

    def get_subject(self, delivery) -> str:
        return self._message(delivery).subject

    def get_text(self, delivery) -> str:
        return self._message(delivery).text


class InboxViewSet(ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The caller's in-app notices, newest first; staff too see only their own."""

    model = Delivery
    serializer_class = InboxItemSerializer
    filterset_class = InboxFilterSet
    permission_classes = [OwnInboxPermission]
    ordering_fields = ["created"]
    ordering = ["-created", "-id"]
    csv_filename = "inbox"

    def base_queryset(self):
        return services.inbox_of(self.request.user)

    @extend_schema(request=None, responses={200: InboxItemSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """Mark the item read; a second call keeps the first time."""
        item = self.get_object()
        services.mark_read(item)
        return Response(self.get_serializer(self.get_queryset().get(pk=item.pk)).data)
