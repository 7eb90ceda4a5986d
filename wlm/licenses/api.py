"""REST API of the licenses app. For now: the module catalogue."""

import django_filters
from rest_framework import mixins, serializers

from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.filters import SearchFilterSet
from wlm.licenses import services
from wlm.licenses.models import Module


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
