"""REST API of the licenses app: the module catalogue and the entitlement check."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.lib import clock
from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.filters import SearchFilterSet
from wlm.licenses import services
from wlm.licenses.entitlement import entitlement_for
from wlm.licenses.models import LicenseStatus, Module
from wlm.locations.models import Location


class ModuleSerializer(serializers.ModelSerializer):
    code = serializers.RegexField(r"^[a-z][a-z0-9_]*\Z", max_length=40)

    class Meta:
        model = Module
        fields = ["code", "name", "description", "advanced"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["code"].read_only = True  # the code is the module's identity
        return fields


class ModuleFilterSet(SearchFilterSet):
    advanced = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = Module
        fields = ["advanced"]
        search_fields = ("code", "name", "description")


class ModuleViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """The platform's module catalogue: everyone reads it, staff keep it."""

    model = Module
    serializer_class = ModuleSerializer
    filterset_class = ModuleFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_field = "code"
    lookup_value_regex = "[a-z][a-z0-9_]*"
    ordering_fields = ["code", "name", "advanced"]
    ordering = ["advanced", "code"]
    csv_filename = "modules"

    def perform_create(self, serializer):
        serializer.instance = services.create_module(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_module(
            self.request.user, serializer.instance, **serializer.validated_data
        )


class UsageSerializer(serializers.Serializer):
    max = serializers.IntegerField(allow_null=True)
    used = serializers.IntegerField()


class EntitlementSerializer(serializers.Serializer):
    location = serializers.UUIDField()
    service = serializers.ChoiceField(choices=["available", "unavailable"])
    reason = serializers.ChoiceField(
        choices=[
            "ok",
            "no_license",
            "pending_provision",
            "access_denied",
            "contract_finalized",
            "expired",
        ]
    )
    license = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=LicenseStatus.choices, allow_null=True)
    modules = serializers.ListField(child=serializers.CharField())
    aps = UsageSerializer()
    rooms = UsageSerializer()
    end_date = serializers.DateField(allow_null=True)


class EntitlementView(APIView):
    """May this location be served, with which modules? The data plane's hot path.

    Computed from the dates at the moment of the call (wlm.licenses.entitlement).
    """

    gateway_access = True

    @extend_schema(responses=EntitlementSerializer)
    def get(self, request, location_pk):
        location = get_object_or_404(
            Location.objects.visible_to(request.user, data_plane=True), pk=location_pk
        )
        result = entitlement_for(location, clock.now())
        return Response(EntitlementSerializer(result).data)
