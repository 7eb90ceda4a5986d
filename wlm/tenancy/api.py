"""REST API of tenants and users: serializers validate, services decide."""

import django_filters
from django.contrib.auth import authenticate, get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from wlm.lib.api import ScopedPrimaryKeyRelatedField, ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.filters import SearchFilterSet
from wlm.tenancy import services
from wlm.tenancy.models import (
    NOTICE_LANGUAGES,
    Distributor,
    Membership,
    Organization,
    Partner,
    Role,
    TenantType,
)
from wlm.tenancy.scoping import actor_of

TENANT_WRITERS = (
    TenantType.STAFF,
    TenantType.DISTRIBUTOR,
    TenantType.PARTNER,
    TenantType.ORGANIZATION,
)


# --- Authentication ----------------------------------------------------------
class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )


class TokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def get_authenticate_header(self, request):
        return "Token"  # wrong credentials are a 401, as everywhere else

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("Unable to log in with the provided credentials."))
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


# --- Tenants -------------------------------------------------------------------
class TenantFilterSet(SearchFilterSet):
    class Meta:
        fields = ["name"]
        search_fields = ("name", "email")


TENANT_API_FIELDS = ["id", "name", "email", "webhook_url", "webhook_secret", "language"]


def sees_webhook_secret(user, tenant_type: str, tenant_id: int) -> bool:
    """A tenant's webhook signing secret is for staff and for the admins of that tenant."""
    actor = actor_of(user)
    return actor.is_staff or (
        actor.is_admin and actor.tenant_type == tenant_type and actor.tenant_id == tenant_id
    )


class TenantSerializer(serializers.ModelSerializer):
    """A tenant's name and notice contacts; ``webhook_secret`` only for those who may
    verify its webhooks (the key is left out for everyone else)."""

    tenant_type = None  # set by each tenant's serializer
    webhook_secret = serializers.CharField(
        read_only=True,
        help_text=_(
            "Signs this tenant's webhooks (HMAC-SHA256). Only for staff and the tenant's admins."
        ),
    )

    def to_representation(self, tenant):
        data = super().to_representation(tenant)
        request = self.context.get("request")
        if not sees_webhook_secret(getattr(request, "user", None), self.tenant_type, tenant.pk):
            del data["webhook_secret"]
        return data


class TenantSerializerSchema(OpenApiSerializerExtension):
    """``webhook_secret`` is in the schema but not required: most callers do not get it."""

    target_class = TenantSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        required = [name for name in schema.get("required", []) if name != "webhook_secret"]
        if required:
            schema["required"] = required
        else:
            schema.pop("required", None)
        return schema


class DistributorSerializer(TenantSerializer):
    tenant_type = TenantType.DISTRIBUTOR

    class Meta:
        model = Distributor
        fields = [*TENANT_API_FIELDS, "created"]
        read_only_fields = ["created"]


class DistributorFilterSet(TenantFilterSet):
    class Meta(TenantFilterSet.Meta):
        model = Distributor


class TenantViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """List, read, create and change tenants; the service checks who may."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    write_tenant_types = TENANT_WRITERS
    ordering_fields = ["id", "name", "created"]
    ordering = ["name", "id"]
    create_service = None

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_tenant(
            self.request.user, serializer.instance, **serializer.validated_data
        )


class DistributorViewSet(TenantViewSet):
    model = Distributor
    serializer_class = DistributorSerializer
    filterset_class = DistributorFilterSet
    csv_filename = "distributors"
    create_service = services.create_distributor


class PartnerSerializer(TenantSerializer):
    tenant_type = TenantType.PARTNER
    distributors = ScopedPrimaryKeyRelatedField(many=True, queryset=Distributor.objects.all())

    class Meta:
        model = Partner
        fields = [*TENANT_API_FIELDS, "distributors", "created"]
        read_only_fields = ["created"]


class PartnerFilterSet(TenantFilterSet):
    class Meta(TenantFilterSet.Meta):
        model = Partner
        fields = ["name", "distributors"]


class PartnerViewSet(TenantViewSet):
    model = Partner
    serializer_class = PartnerSerializer
    filterset_class = PartnerFilterSet
    csv_filename = "partners"
    create_service = services.create_partner

    def base_queryset(self):
        return Partner.objects.prefetch_related("distributors")


class OrganizationSerializer(TenantSerializer):
    tenant_type = TenantType.ORGANIZATION
    partner = ScopedPrimaryKeyRelatedField(
        queryset=Partner.objects.all(),
        required=False,
        help_text=_("Defaults to the caller's partner."),
    )

    class Meta:
        model = Organization
        fields = [*TENANT_API_FIELDS, "partner", "created"]
        read_only_fields = ["created"]
        validators = []  # (partner, name) uniqueness is checked by the database


class OrganizationFilterSet(TenantFilterSet):
    class Meta(TenantFilterSet.Meta):
        model = Organization
        fields = ["name", "partner"]
        search_fields = ("name", "email", "partner__name")


class OrganizationViewSet(TenantViewSet):
    model = Organization
    serializer_class = OrganizationSerializer
    filterset_class = OrganizationFilterSet
    csv_filename = "organizations"
    create_service = services.create_organization


# --- Users ---------------------------------------------------------------------
class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, max_length=4096, trim_whitespace=False)
    tenant_type = serializers.ChoiceField(choices=TenantType.choices)
    tenant_id = serializers.IntegerField(allow_null=True, required=False, min_value=1)
    role = serializers.ChoiceField(choices=Role.choices)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    language = serializers.ChoiceField(
        choices=NOTICE_LANGUAGES,
        default="en",
        help_text=_("The language of the user's notices (inbox and e-mail)."),
    )

    class Meta:
        model = get_user_model()
        fields = [
            "id",
            "username",
            "email",
            "password",
            "tenant_type",
            "tenant_id",
            "role",
            "language",
        ]
        extra_kwargs = {"email": {"required": True}}

    def to_representation(self, instance):
        actor = actor_of(instance)
        membership = getattr(instance, "membership", None)  # none: a bare superuser
        return {
            "id": instance.pk,
            "username": instance.username,
            "email": instance.email,
            "tenant_type": actor.tenant_type,
            "tenant_id": actor.tenant_id,
            "role": actor.role,
            "language": membership.language if membership is not None else "en",
        }


class UserFilterSet(SearchFilterSet):
    tenant_type = django_filters.ChoiceFilter(
        field_name="membership__tenant_type", choices=TenantType.choices, label=_("Tenant type")
    )
    role = django_filters.ChoiceFilter(
        field_name="membership__role", choices=Role.choices, label=_("Role")
    )

    class Meta:
        model = get_user_model()
        fields = ["username"]
        search_fields = ("username", "email")


class UserViewSet(
    ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Users and their one membership. Admins manage the users of their tenants."""

    serializer_class = UserSerializer
    filterset_class = UserFilterSet
    write_tenant_types = TENANT_WRITERS
    ordering_fields = ["id", "username"]
    ordering = ["username"]
    csv_filename = "users"

    def get_queryset(self):
        User = get_user_model()
        users = User.objects.select_related("membership")
        if actor_of(self.request.user).is_staff:
            return users
        return users.filter(Q(membership__in=Membership.objects.visible_to(self.request.user)))

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_user(
            self.request.user,
            username=data["username"],
            email=data["email"],
            password=data["password"],
            tenant_type=data["tenant_type"],
            tenant_id=data.get("tenant_id"),
            role=data["role"],
            language=data["language"],
        )
