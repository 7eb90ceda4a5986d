"""``POST /api/v1/connections/``: the data plane reports the devices it sees (gateway role)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.connections import services
from wlm.lib.parsers import FastJSONParser
from wlm.tenancy.scoping import actor_of


class EventSerializer(serializers.Serializer):
    """Documents one event; the intake validates events itself, one by one (fast)."""

    location = serializers.UUIDField()
    device = serializers.CharField(max_length=128, help_text=_("A MAC address or an opaque id."))
    seen_at = serializers.DateTimeField(required=False, help_text=_("Default: now."))


class BatchSerializer(serializers.Serializer):
    events = EventSerializer(many=True, max_length=services.MAX_EVENTS)


class ResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = inline_serializer(
        "RejectedEvent",
        {"index": serializers.IntegerField(), "error": serializers.CharField()},
        many=True,
    )
    started = serializers.ListField(child=serializers.IntegerField())


class ConnectionsView(APIView):
    """Connection events in batches of up to 10,000; bad events are refused by index."""

    gateway_access = True
    parser_classes = [FastJSONParser]

    @extend_schema(request=BatchSerializer, responses={200: ResultSerializer})
    def post(self, request):
        if not actor_of(request.user).is_gateway:
            raise PermissionDenied(_("Only the data plane's gateway accounts report connections."))
        data = request.data
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise ValidationError({"events": [_('Send {"events": [...]}: a list of events.')]})
        if len(events) > services.MAX_EVENTS:
            raise ValidationError(
                {
                    "events": [
                        _("At most %(max)d events per call; this one has %(n)d.")
                        % {"max": services.MAX_EVENTS, "n": len(events)}
                    ]
                }
            )
        result = services.ingest(events)
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "started": result.started,
            }
        )
