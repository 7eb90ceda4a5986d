"""Serializers of the notices API: notices with their deliveries and attempts, the
license view's notice lines, and the in-app inbox. Recipients a reader may not see are
replaced by a label (``wlm.notifications.queries``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wlm.notifications import messages
from wlm.notifications.filters import ShownState
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice
from wlm.notifications.queries import recipient_label, scrub, shows_recipient
from wlm.tenancy.scoping import Actor, actor_of


def _actor(context: dict) -> Actor:
    request = context.get("request")
    return actor_of(getattr(request, "user", None))


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
            data["last_error"] = scrub(data["last_error"], delivery.recipient, label)
            for attempt in data["attempt_log"]:
                attempt["detail"] = scrub(attempt["detail"], delivery.recipient, label)
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


# --- The in-app inbox ------------------------------------------------------------------


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
