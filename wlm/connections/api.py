"""``POST /api/v1/connections/``: the data plane reports the devices it sees (gateway role);
``/api/v1/installer-devices/``: a partner's installer devices, which never count."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.connections import installers, services
from wlm.connections.filters import InstallerDeviceFilterSet
from wlm.connections.models import InstallerDevice
from wlm.lib.api import ScopedPrimaryKeyRelatedField, ScopedViewSet
from wlm.lib.csv import Column, DateTime, Export, ListModelMixin
from wlm.lib.parsers import FastJSONParser
from wlm.tenancy.models import Partner, TenantType
from wlm.tenancy.scoping import actor_of

REPLAYED = "Idempotent-Replayed"


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

    @extend_schema(
        request=BatchSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
                OpenApiParameter.HEADER,
                description=_(
                    "Makes a retry safe: the same key with the same body within 24 hours "
                    "is answered with the first answer and counted once; with another "
                    "body it is a 422. 1-255 printable ASCII characters, chosen by the "
                    "gateway (e.g. a UUID per batch)."
                ),
            ),
            OpenApiParameter(
                REPLAYED,
                {"type": "string", "enum": ["true"]},
                OpenApiParameter.HEADER,
                response=[200],
                description=_("Present when the answer is the stored one of an earlier call."),
            ),
        ],
        responses={
            200: ResultSerializer,
            (422, "application/problem+json"): OpenApiResponse(
                {"$ref": "#/components/schemas/Problem"},  # wlm.lib.schema adds it
                description=_("The Idempotency-Key was sent before with another body."),
            ),
        },
    )
    def post(self, request):
        if not actor_of(request.user).is_gateway:
            raise PermissionDenied(_("Only the data plane's gateway accounts report connections."))
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is not None and not services.IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationError(
                {"Idempotency-Key": [_("Send 1 to 255 printable ASCII characters.")]}
            )
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
        if key is None:
            return Response(services.ingest(events).answer())
        # A batch refused as a whole (above) keeps no key: the same body is refused again.
        answer, replayed = services.ingest_once(request.user, key, data)
        return Response(answer, headers={REPLAYED: "true"} if replayed else None)


class InstallerDeviceSerializer(serializers.ModelSerializer):
    """An installer device: its MAC is written once and never read back (only its keyed
    hash is kept, like every device's)."""

    partner = ScopedPrimaryKeyRelatedField(
        queryset=Partner.objects.all(),
        required=False,
        help_text=_("Whose device it is; a partner's own users can leave it out."),
    )
    mac = serializers.CharField(
        write_only=True, max_length=32, help_text=_("The device's MAC address.")
    )
    label = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", trim_whitespace=True
    )

    class Meta:
        model = InstallerDevice
        fields = ["id", "partner", "mac", "label", "created"]
        read_only_fields = ["id", "created"]
        validators = []  # (partner, device) uniqueness: the database answers 409


# ``?format=csv``: the JSON row's columns, then the partner's name (docs/api.md, "CSV columns")
INSTALLER_DEVICE_CSV = Export(
    [
        Column("id"),
        Column("partner", "partner_id"),
        Column("label"),
        DateTime("created"),
        Column("partner_name", "partner__name"),
    ]
)


class InstallerDeviceViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """A partner's installer devices (its users read them, its admins add and remove
    them; staff every partner's): their connections never count toward a start at the
    partner's locations (docs/connections.md)."""

    model = InstallerDevice
    serializer_class = InstallerDeviceSerializer
    filterset_class = InstallerDeviceFilterSet
    write_tenant_types = (TenantType.STAFF, TenantType.PARTNER)
    http_method_names = ["get", "post", "delete", "head", "options"]
    ordering_fields = ["label", "created"]
    ordering = ["partner", "label", "id"]
    csv_filename = "installer-devices"
    csv_export = INSTALLER_DEVICE_CSV

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        partner = data.get("partner") or _own_partner(request.user)
        device = installers.add_installer_device(
            request.user, partner, mac=data["mac"], label=data.get("label", "")
        )
        return Response(self.get_serializer(device).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        installers.remove_installer_device(self.request.user, instance)


def _own_partner(user) -> Partner:
    """The caller's partner, for a new device sent without one (staff must name it)."""
    actor = actor_of(user)
    if actor.tenant_type != TenantType.PARTNER:
        raise ValidationError({"partner": [_("Name the partner whose device it is.")]})
    return Partner.objects.get(pk=actor.tenant_id)
