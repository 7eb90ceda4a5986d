"""REST API of the licenses app: the module catalogue, the entitlement check, license
requests, licenses and their actions, and Send Key. Serializers (``serializers.py``)
validate, services decide."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from wlm.lib import clock, languages
from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.plans import MatchesFirstPagination
from wlm.licenses import lifecycle, notices, services
from wlm.licenses.entitlement import entitlement_seen_by
from wlm.licenses.exports import MODULE_CSV
from wlm.licenses.filters import LicenseFilterSet, LicenseRequestFilterSet, ModuleFilterSet
from wlm.licenses.models import CHANGE_KINDS, License, LicenseRequest, Module, RequestKind
from wlm.licenses.pdf import certificate_response
from wlm.licenses.queries import LICENSE_CSV, REQUEST_CSV, license_rows, requests_for_csv
from wlm.licenses.serializers import (
    AssignSerializer,
    ChangeRequestSerializer,
    CreateLicenseSerializer,
    EntitlementSerializer,
    KeySerializer,
    LicenseDetailSerializer,
    LicenseRequestSerializer,
    LicenseSerializer,
    ModuleSerializer,
    NewRequestSerializer,
    OptionalReasonSerializer,
    ReasonSerializer,
    RenewSerializer,
    StartSerializer,
    UpgradeSerializer,
)
from wlm.licenses.throttles import ACTIVATION_THROTTLES
from wlm.locations.models import Location


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
    csv_export = MODULE_CSV

    def perform_create(self, serializer):
        serializer.instance = services.create_module(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_module(
            self.request.user, serializer.instance, **serializer.validated_data
        )


class EntitlementView(APIView):
    """May this location be served, with which modules? The data plane's hot path.

    Computed from the dates at the moment of the call (wlm.licenses.entitlement). A
    tenant reads the locations it sees, and their license only if it sees that license.
    """

    gateway_access = True

    @extend_schema(responses=EntitlementSerializer)
    def get(self, request, location_pk):
        location = get_object_or_404(
            Location.objects.visible_to(request.user, data_plane=True), pk=location_pk
        )
        result = entitlement_seen_by(request.user, location, clock.now())
        return Response(EntitlementSerializer(result).data)


# --- License requests and licenses ----------------------------------------------------


class LicenseRequestViewSet(
    ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Partners ask; the distributor approves (the license is generated) or rejects."""

    model = LicenseRequest
    serializer_class = LicenseRequestSerializer
    filterset_class = LicenseRequestFilterSet
    ordering_fields = ["created", "state", "years", "decided"]
    ordering = ["-created", "-id"]
    csv_filename = "license-requests"
    csv_export = REQUEST_CSV

    def may_write(self, user) -> bool:
        """``TenantPermission``: a role that neither requests (a new license, a renewal,
        an upgrade) nor decides gets 403."""
        return (
            services.may_request(user)
            or services.may_ask_for_change(user)
            or services.may_decide(user)
        )

    def base_queryset(self):
        if getattr(getattr(self.request, "accepted_renderer", None), "format", None) == "csv":
            return requests_for_csv(LicenseRequest.objects.all(), self.request.user)
        return LicenseRequest.objects.prefetch_related("modules", "add_modules", "remove_modules")

    def _row(self, license_request) -> dict:
        return LicenseRequestSerializer(self.base_queryset().get(pk=license_request.pk)).data

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="LicenseRequestBody",
            serializers=[NewRequestSerializer, ChangeRequestSerializer],
            resource_type_field_name=None,
        ),
        responses={201: LicenseRequestSerializer},
    )
    def create(self, request, *args, **kwargs):
        """A new license (``kind`` ``new``, the default) for a location, or a renewal or
        an upgrade of an existing ``license``. The role is refused (403) before the body
        is judged: partners ask for new licenses, the license's partner or organization
        for its changes."""
        data = request.data
        kind = data.get("kind", RequestKind.NEW) if hasattr(data, "get") else RequestKind.NEW
        context = self.get_serializer_context()
        if kind in CHANGE_KINDS:
            services.require_change_asker(request.user)  # 403 whatever the body
            change = ChangeRequestSerializer(data=data, context=context)
            change.is_valid(raise_exception=True)
            created = change.request_change(request.user)
        else:
            services.require_requester(request.user)  # 403 whatever the body
            terms = NewRequestSerializer(data=data, context=context)
            terms.is_valid(raise_exception=True)
            created = services.create_request(request.user, terms.terms())
        return Response(self._row(created), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=StartSerializer,
        responses={
            201: OpenApiResponse(LicenseSerializer, _("A new license: generated.")),
            200: OpenApiResponse(LicenseSerializer, _("A renewal or an upgrade: applied.")),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        license_request = self.get_object()
        services.require_decider(request.user, license_request)  # 403 whatever the body
        serializer = StartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        license = services.approve_request(
            request.user, license_request.pk, **serializer.validated_data
        )
        changed = license_request.is_change  # an existing license: 200, not created
        return Response(
            _license_row(license), status=status.HTTP_200_OK if changed else status.HTTP_201_CREATED
        )

    @extend_schema(request=ReasonSerializer, responses={200: LicenseRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        license_request = self.get_object()
        services.require_decider(request.user, license_request)  # 403 whatever the body
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rejected = services.reject_request(
            request.user, license_request.pk, serializer.validated_data["reason"]
        )
        return Response(self._row(rejected))


def _license_row(license: License) -> dict:
    return LicenseSerializer(license_rows().get(pk=license.pk)).data


class LicenseViewSet(
    ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Licenses: the list with its filters, the license view, the PDF and the actions.

    Each action calls one lifecycle function, which checks the status and the actor.
    """

    model = License
    serializer_class = LicenseSerializer
    filterset_class = LicenseFilterSet
    ordering_fields = [
        "key",
        "organization__name",
        "status",
        "start_date",
        "end_date",
        "limit",
        "years",
        "created",
    ]
    ordering = ["-created", "-id"]
    csv_filename = "licenses"
    csv_export = LICENSE_CSV
    pagination_class = MatchesFirstPagination  # few matches: read first, then sorted

    def may_write(self, user) -> bool:
        """``TenantPermission``: 403 for a role that neither generates licenses nor makes
        any change the lifecycle's table gives it."""
        return services.may_generate(user) or any(
            lifecycle.may(user, action) for action in lifecycle.OFFERED
        )

    def base_queryset(self):
        if self.action == "retrieve":
            return (
                license_rows()
                .select_related("signed")
                .prefetch_related("events", notices.reader().prefetch())
            )
        return license_rows()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return LicenseDetailSerializer
        return LicenseSerializer

    def _detail(self, license: License) -> Response:
        fresh = self.base_queryset().prefetch_related("events").get(pk=license.pk)
        return Response(LicenseDetailSerializer(fresh, context=self.get_serializer_context()).data)

    def retrieve(self, request, *args, **kwargs):
        license = self.get_object()
        return Response(
            LicenseDetailSerializer(license, context=self.get_serializer_context()).data
        )

    @extend_schema(request=CreateLicenseSerializer, responses={201: LicenseSerializer})
    def create(self, request, *args, **kwargs):
        services.require_generator(request.user)  # 403 whatever the body
        serializer = CreateLicenseSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        license = services.create_license(
            request.user,
            serializer.terms(),
            start_mode=serializer.validated_data["start_mode"],
            fixed_start=serializer.validated_data["fixed_start"],
        )
        return Response(_license_row(license), status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "language",
                enum=sorted(languages.CODES),
                description=_("The certificate's language; default: the organization's."),
            )
        ],
        responses={(200, "application/pdf"): OpenApiResponse(description=_("The certificate."))},
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        license = License.objects.select_related(
            "organization", "location__organization", "partner", "distributor"
        ).get(pk=self.get_object().pk)
        language = languages.asked(request.query_params.get("language"))  # else a 400
        return certificate_response(license, language)

    def _act(self, action: str, serializer_class, act) -> Response:
        license = self.get_object()  # an invisible license is a 404 whatever the body
        lifecycle.require_actor(license, action, self.request.user)  # 403 whatever the body
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return self._detail(act(license, serializer.validated_data))

    @extend_schema(request=UpgradeSerializer, responses={200: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def upgrade(self, request, pk=None):
        return self._act(
            "upgrade",
            UpgradeSerializer,
            lambda license, data: services.upgrade_license(request.user, license, **data),
        )

    @extend_schema(request=RenewSerializer, responses={200: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        return self._act(
            "renew",
            RenewSerializer,
            lambda license, data: lifecycle.renew(request.user, license.pk, **data),
        )

    @extend_schema(request=ReasonSerializer, responses={200: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def deny(self, request, pk=None):
        return self._act(
            "deny",
            ReasonSerializer,
            lambda license, data: lifecycle.deny(request.user, license.pk, data["reason"]),
        )

    @extend_schema(request=OptionalReasonSerializer, responses={200: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return self._act(
            "restore",
            OptionalReasonSerializer,
            lambda license, data: lifecycle.restore(request.user, license.pk, data["reason"]),
        )

    @extend_schema(request=ReasonSerializer, responses={200: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(
            "cancel",
            ReasonSerializer,
            lambda license, data: lifecycle.cancel(request.user, license.pk, data["reason"]),
        )

    @extend_schema(request=AssignSerializer, responses={201: LicenseDetailSerializer})
    @action(detail=True, methods=["post"])
    def assignments(self, request, pk=None):
        response = self._act(
            "assign",
            AssignSerializer,
            lambda license, data: lifecycle.assign(request.user, license.pk, data["location"]),
        )
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(request=None, responses={204: None})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"assignments/(?P<location_pk>[0-9a-fA-F-]{36})",
        url_name="assignment",
    )
    def unassign(self, request, pk=None, location_pk=None):
        license = self.get_object()
        location = get_object_or_404(Location.objects.visible_to(request.user), pk=location_pk)
        lifecycle.unassign(request.user, license.pk, location)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Send Key --------------------------------------------------------------------------


class ActivateView(APIView):
    """Send Key: activate a license key on a location of the caller's organization.

    An unknown key and another organization's key get the same 404, byte for byte.
    """

    throttle_classes = ACTIVATION_THROTTLES

    def may_write(self, user) -> bool:
        """``TenantPermission``: the lifecycle's right to provision, before the key is read."""
        return lifecycle.may(user, "provision")

    @extend_schema(request=KeySerializer, responses={200: LicenseSerializer})
    def post(self, request, location_pk):
        location = get_object_or_404(Location.objects.visible_to(request.user), pk=location_pk)
        serializer = KeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            license = lifecycle.provision(request.user, location, serializer.validated_data["key"])
        except lifecycle.UnknownKey:
            raise NotFound(lifecycle.UnknownKey.message) from None
        return Response(_license_row(license))
