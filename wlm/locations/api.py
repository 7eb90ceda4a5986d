"""REST API of locations, access points and rooms, and a location's installation mode."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.lib import clock
from wlm.lib.api import ScopedPrimaryKeyRelatedField, ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.validators import normalize_mac, validate_time_zone
from wlm.licenses.models import LicenseStatus
from wlm.locations import services
from wlm.locations.exports import ACCESS_POINT_CSV, ROOM_CSV
from wlm.locations.filters import LOCATION_ORDERING, LocationFilterSet
from wlm.locations.models import NEVER, AccessPoint, Location, Room, Sector
from wlm.locations.queries import LOCATION_CSV, LocationPagination, with_license
from wlm.tenancy.models import Organization, TenantType

LOCATION_WRITERS = (TenantType.STAFF, TenantType.PARTNER, TenantType.ORGANIZATION)


class LocationLicenseSerializer(serializers.Serializer):
    """The location's license (docs/api.md); the same rule as its entitlement."""

    id = serializers.IntegerField()
    key = serializers.CharField()
    status = serializers.ChoiceField(choices=LicenseStatus.choices)
    end_date = serializers.DateField(allow_null=True)


@extend_schema_field({"type": "string", "example": "ES", "description": "ISO 3166-1 alpha-2"})
class CountryCodeField(CountryField):
    pass


class LocationSerializer(serializers.ModelSerializer):
    organization = ScopedPrimaryKeyRelatedField(queryset=Organization.objects.all())
    timezone = serializers.CharField(max_length=64, validators=[validate_time_zone])
    country = CountryCodeField()
    sector = serializers.ChoiceField(choices=Sector.choices)
    access_points = serializers.IntegerField(read_only=True, source="access_point_count")
    rooms = serializers.IntegerField(read_only=True, source="room_count")
    license = serializers.SerializerMethodField()

    class Meta:
        model = Location
        fields = [
            "id",
            "name",
            "organization",
            "sector",
            "timezone",
            "address",
            "country",
            "license",
            "access_points",
            "rooms",
            "created",
        ]
        read_only_fields = ["id", "created"]
        validators = []  # (organization, name) uniqueness: the database answers 409

    @extend_schema_field(LocationLicenseSerializer(allow_null=True))
    def get_license(self, location) -> dict | None:
        """From the annotations of ``LocationViewSet.base_queryset``."""
        if getattr(location, "license_pk", None) is None:
            return None
        return LocationLicenseSerializer(
            {
                "id": location.license_pk,
                "key": location.license_key,
                "status": location.license_status,
                "end_date": location.license_end,
            }
        ).data


class LocationViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    model = Location
    serializer_class = LocationSerializer
    filterset_class = LocationFilterSet
    write_tenant_types = LOCATION_WRITERS
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = list(LOCATION_ORDERING)
    ordering = ["name", "id"]
    pagination_class = LocationPagination  # by license end: read from its index
    csv_filename = "locations"
    csv_export = LOCATION_CSV  # the license as four flat columns, then the names
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def base_queryset(self):
        return with_license(self.request.user)

    def perform_create(self, serializer):
        location = services.create_location(self.request.user, **serializer.validated_data)
        serializer.instance = self.base_queryset().get(pk=location.pk)

    def perform_update(self, serializer):
        location = services.update_location(
            self.request.user, serializer.instance, **serializer.validated_data
        )
        serializer.instance = self.base_queryset().get(pk=location.pk)


class LocationChildViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Elements configured at one location: ``/locations/{location_pk}/<kind>/``."""

    write_tenant_types = LOCATION_WRITERS
    http_method_names = ["get", "post", "delete", "head", "options"]

    def location(self) -> Location:
        if not hasattr(self, "_location"):
            self._location = get_object_or_404(
                Location.objects.visible_to(self.request.user), pk=self.kwargs["location_pk"]
            )
        return self._location

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return self.model.objects.none()
        return super().get_queryset().filter(location=self.location())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        element = self.add_service(request.user, self.location(), **serializer.validated_data)
        return Response(self.get_serializer(element).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        self.remove_service(self.request.user, instance)


class AccessPointSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessPoint
        fields = ["id", "mac", "name", "created"]
        read_only_fields = ["id", "created"]
        validators = []
        # the service says where the MAC is taken (here or elsewhere) with a 409
        extra_kwargs = {"mac": {"validators": []}}

    def validate_mac(self, value: str) -> str:
        try:
            return normalize_mac(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class AccessPointViewSet(LocationChildViewSet):
    model = AccessPoint
    serializer_class = AccessPointSerializer
    ordering_fields = ["mac", "name", "created"]
    ordering = ["mac"]
    csv_filename = "access-points"
    csv_export = ACCESS_POINT_CSV
    filterset_fields = ["mac"]

    add_service = staticmethod(services.add_access_point)
    remove_service = staticmethod(services.remove_access_point)


class RoomSerializer(serializers.ModelSerializer):
    number = serializers.CharField(max_length=50)

    class Meta:
        model = Room
        fields = ["id", "number", "created"]
        read_only_fields = ["id", "created"]
        validators = []


class RoomViewSet(LocationChildViewSet):
    model = Room
    serializer_class = RoomSerializer
    ordering_fields = ["number", "created"]
    ordering = ["number"]
    csv_filename = "rooms"
    csv_export = ROOM_CSV
    filterset_fields = ["number"]

    add_service = staticmethod(services.add_room)
    remove_service = staticmethod(services.remove_room)


class AwareDateTimeField(serializers.DateTimeField):
    """A moment with its offset (``Z``, ``+02:00``): without one it is refused, as the
    intake refuses it, rather than read in a zone the client did not name."""

    default_error_messages = {"naive": _("Give the time with its offset, e.g. Z or +02:00.")}

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class InstallationRequestSerializer(serializers.Serializer):
    until = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text=_(
            "When the installation ends: in the future, at most 30 days from now. "
            "Absent or null: until it is switched off."
        ),
    )


class InstallationSerializer(serializers.Serializer):
    """A location's installation mode (docs/connections.md)."""

    location = serializers.UUIDField(source="pk")
    active = serializers.SerializerMethodField(
        help_text=_("In installation now: its connections do not count toward a start.")
    )
    since = serializers.DateTimeField(source="installation_since", allow_null=True)
    until = serializers.DateTimeField(
        source="installation_until",
        allow_null=True,
        help_text=_("The end it was given; null: until switched off (or none)."),
    )
    counts_from = serializers.SerializerMethodField(
        help_text=_(
            "Connections seen here count toward a start from this moment on; null while "
            "an installation without an end runs, or when nothing is held back."
        )
    )

    def get_active(self, location) -> bool:
        return location.in_installation(clock.now())

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_counts_from(self, location):
        moment = location.counting_starts()
        if moment is None or moment is NEVER:
            return None
        return serializers.DateTimeField().to_representation(moment)


class InstallationView(APIView):
    """``/locations/{id}/installation/``: read (whoever sees the location), switch on
    (POST, with an end or without) and off (DELETE): the location's admins, its partner's
    and staff (``services.start_installation``, ``end_installation``)."""

    def may_write(self, user) -> bool:
        """``TenantPermission``: a role that manages locations at all, before the row."""
        return Location.objects.may_manage(user)

    def location(self, request, location_pk) -> Location:
        return get_object_or_404(Location.objects.visible_to(request.user), pk=location_pk)

    @extend_schema(responses={200: InstallationSerializer})
    def get(self, request, location_pk):
        return Response(InstallationSerializer(self.location(request, location_pk)).data)

    @extend_schema(request=InstallationRequestSerializer, responses={200: InstallationSerializer})
    def post(self, request, location_pk):
        location = self.location(request, location_pk)
        serializer = InstallationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        until = serializer.validated_data.get("until")
        location = services.start_installation(request.user, location, until=until)
        return Response(InstallationSerializer(location).data)

    @extend_schema(request=None, responses={200: InstallationSerializer})
    def delete(self, request, location_pk):
        location = services.end_installation(request.user, self.location(request, location_pk))
        return Response(InstallationSerializer(location).data)
