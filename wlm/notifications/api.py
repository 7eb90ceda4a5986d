"""REST API of notices: the notices of the licenses a user sees, with their deliveries and
attempts, and the user's in-app inbox. The serializers (recipients masked by who asks)
are in ``wlm.notifications.serializers``.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.notifications import services
from wlm.notifications.exports import (
    INBOX_CSV_RELATED,
    NOTICE_CSV_RELATED,
    InboxItemCSVSerializer,
    NotificationCSVSerializer,
)
from wlm.notifications.filters import InboxFilterSet, NoticeFilterSet, with_shown_state
from wlm.notifications.models import Delivery, Notice
from wlm.notifications.serializers import InboxItemSerializer, NotificationSerializer
from wlm.tenancy.permissions import TenantPermission
from wlm.tenancy.scoping import actor_of


def _csv_list(view) -> bool:
    """The list as CSV (``?format=csv``): its rows carry the names too
    (``wlm.notifications.exports``)."""
    renderer = getattr(view.request, "accepted_renderer", None)
    return view.action == "list" and getattr(renderer, "format", None) == "csv"


# --- GET /notifications/ -------------------------------------------------------------


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
        if _csv_list(self):
            notices = notices.select_related(*NOTICE_CSV_RELATED)
        return with_shown_state(notices)

    def get_serializer_class(self):
        return NotificationCSVSerializer if _csv_list(self) else NotificationSerializer


# --- The in-app inbox ------------------------------------------------------------------


class OwnInboxPermission(TenantPermission):
    """Every user of a tenant, any role, reads and marks its own inbox; marking an item
    read is not a write to the tenant's data. Not the gateway."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        actor = actor_of(request.user)
        return actor.tenant_type is not None and not actor.is_gateway


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
        if _csv_list(self):
            return services.inbox_of(self.request.user).select_related(*INBOX_CSV_RELATED)
        return services.inbox_of(self.request.user)

    def get_serializer_class(self):
        return InboxItemCSVSerializer if _csv_list(self) else InboxItemSerializer

    @extend_schema(request=None, responses={200: InboxItemSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """Mark the item read; a second call keeps the first time."""
        item = self.get_object()
        services.mark_read(item)
        return Response(self.get_serializer(self.get_queryset().get(pk=item.pk)).data)
