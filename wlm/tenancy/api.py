"""REST API of tenants and users: serializers validate, services decide."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.validators import UniqueValidator
from rest_framework.views import APIView

from wlm.lib import clock
from wlm.lib.api import ScopedPrimaryKeyRelatedField, ScopedViewSet
from wlm.lib.csv import ListModelMixin
from wlm.lib.filters import SearchFilterSet
from wlm.lib.validators import validate_one_line
from wlm.tenancy import exports, services, throttles, tokens
from wlm.tenancy.models import (
    NOTICE_LANGUAGES,
    ApiToken,
    Distributor,
    Membership,
    Organization,
    Partner,
    Role,
    TenantType,
    TokenScope,
)
from wlm.tenancy.permissions import TenantPermission
from wlm.tenancy.scoping import actor_of

SCOPE_HELP = _(
    "read: the token is refused every change (403); write: the user's own rights. A "
    "gateway's token keeps the gateway role's rights."
)
EXPIRES_HELP = _("When the token stops working (null: never). In the future.")

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
    name = serializers.CharField(
        max_length=100,
        required=False,
        help_text=_("The new token's name (default: the client's user agent, or \"API\")."),
    )
    scope = serializers.ChoiceField(
        choices=TokenScope.choices, default=TokenScope.WRITE, help_text=SCOPE_HELP
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text=EXPIRES_HELP)

    def validate_expires_at(self, value):
        return _in_the_future(value)


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret (only its first characters, ``prefix``)."""

    user = serializers.CharField(source="user.username", read_only=True)
    state = serializers.SerializerMethodField(
        help_text=_("active, expired or revoked, at the moment of the answer.")
    )
    scope = serializers.ChoiceField(
        choices=TokenScope.choices, default=TokenScope.WRITE, help_text=SCOPE_HELP
    )
    expires_at = serializers.DateTimeField(
        source="expires", required=False, allow_null=True, help_text=EXPIRES_HELP
    )
    created_at = serializers.DateTimeField(source="created", read_only=True)
    last_used_at = serializers.DateTimeField(
        source="last_used",
        read_only=True,
        allow_null=True,
        help_text=_("Null: never used. Noted at most once a minute."),
    )
    revoked_at = serializers.DateTimeField(source="revoked", read_only=True, allow_null=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "scope",
            "prefix",
            "user",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "state",
        ]
        read_only_fields = ["prefix"]

    def get_state(self, token) -> str:
        return token.state_at(clock.now())

    def validate_expires_at(self, value):
        return _in_the_future(value)


def _in_the_future(value):
    if value is not None and value <= clock.now():
        raise serializers.ValidationError(_("The expiry must be in the future."))
    return value


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text=_(
            'The secret to send as "Authorization: Token <secret>". Shown only in this '
            "answer: it cannot be read again."
        ),
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class TokenView(APIView):
    """Exchange a username and password for a new API token (a named token of the user,
    ``write`` by default; docs/api.md, "Authentication"). Each call makes a new token.

    Throttled per client address (``auth``, every request), and its failed passwords
    count with the login pages' (``throttles.authenticate``: per username and address).
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def get_authenticate_header(self, request):
        return "Token"  # wrong credentials are a 401, as everywhere else

    @extend_schema(request=TokenRequestSerializer, responses={200: NewApiTokenSerializer}, auth=[])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = throttles.authenticate(request._request, data["username"], data["password"])
        except throttles.LoginThrottled as refused:
            raise Throttled(wait=refused.wait) from None
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("Unable to log in with the provided credentials."))
        name = data.get("name") or _token_name(request)
        token, key = tokens.issue(user, name, data["scope"], data.get("expires_at"))
        token.token = key
        return Response(NewApiTokenSerializer(token).data, headers={"Cache-Control": "no-store"})


def _token_name(request) -> str:
    """The client's User-Agent as one printable line (a token's name), else "API"."""
    agent = "".join(ch for ch in request.headers.get("user-agent", "") if ch.isprintable())
    return " ".join(agent.split())[:100] or "API"


class TokenFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[
            ("active", pgettext_lazy("token", "Active")),
            ("expired", pgettext_lazy("token", "Expired")),
            ("revoked", pgettext_lazy("token", "Revoked")),
        ],
        method="filter_state",
        label=_("State"),
    )
    user = django_filters.NumberFilter(field_name="user_id", label=_("User"))

    class Meta:
        model = ApiToken
        fields = ["scope"]

    def filter_state(self, queryset, name, value):
        now = clock.now()
        if value == "revoked":
            return queryset.filter(revoked__isnull=False)
        if value == "expired":
            return queryset.filter(revoked__isnull=True, expires__lte=now)
        return queryset.active_at(now)


class OwnTokensPermission(TenantPermission):
    """Every user of a tenant, any role, the gateway included, keeps their own tokens: the
    rows say who may revoke what (``ApiToken.objects.managed_by``). A ``read`` token is
    refused every unsafe method by the authentication, before this."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return actor_of(request.user).tenant_type is not None


class ApiTokenViewSet(
    ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """The caller's API tokens (and, for a tenant's admin, those of the users they
    manage; staff: every token). Creating answers the secret once; revoking (DELETE, or
    POST …/revoke/) keeps the row, marked revoked."""

    model = ApiToken
    serializer_class = ApiTokenSerializer
    filterset_class = TokenFilterSet
    permission_classes = [OwnTokensPermission]
    http_method_names = ["get", "post", "delete", "head", "options"]
    # the answer's names (the columns under them: annotations)
    ordering_fields = ["created_at", "last_used_at", "expires_at", "name"]
    ordering = ["-created", "-id"]
    csv_filename = "tokens"

    def base_queryset(self):
        return ApiToken.objects.select_related("user").annotate(
            created_at=F("created"), last_used_at=F("last_used"), expires_at=F("expires")
        )

    def get_serializer_class(self):
        return NewApiTokenSerializer if self.action == "create" else ApiTokenSerializer

    @extend_schema(responses={201: NewApiTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, key = tokens.issue(request.user, data["name"], data["scope"], data.get("expires"))
        token.token = key
        return Response(
            NewApiTokenSerializer(token).data, status=201, headers={"Cache-Control": "no-store"}
        )

    def perform_destroy(self, instance):
        tokens.revoke(self.request.user, instance)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke the token at once (every server process within a second); a second call
        keeps the first moment."""
        token = tokens.revoke(request.user, self.get_object())
        return Response(ApiTokenSerializer(token).data)


# --- Tenants -------------------------------------------------------------------
class TenantFilterSet(SearchFilterSet):
    class Meta:
        fields = ["name"]
        search_fields = ("name", "email")


TENANT_API_FIELDS = ["id", "name", "email", "webhook_url", "language"]


class TenantSerializer(serializers.ModelSerializer):
    """A tenant's name and notice contacts. ``webhook_url`` is null for readers other
    than the tenant's own admins and staff admins; the webhook signing secret is never
    read back: ``POST …/{id}/webhook-secret/`` makes a new one and shows it once."""

    def get_fields(self):
        fields = super().get_fields()
        # a taken name is the database's 409 naming the field, as for every unique key
        # (wlm.lib.problems.save_unique), not a 400 from a check that a race slips past
        fields["name"].validators = [
            validator
            for validator in fields["name"].validators
            if not isinstance(validator, UniqueValidator)
        ]
        return fields

    def to_representation(self, tenant):
        data = super().to_representation(tenant)
        request = self.context.get("request")
        if not services.holds_webhook_credentials(getattr(request, "user", None), tenant):
            data["webhook_url"] = None
        return data


WEBHOOK_URL_HIDDEN = _(
    "Null for readers other than the tenant's own admins and staff admins: receivers "
    "often take credentials in the URL."
)


class TenantSerializerSchema(OpenApiSerializerExtension):
    """In answers ``webhook_url`` may be null (hidden from this reader); in requests it
    may not."""

    target_class = TenantSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "response":
            url = schema["properties"]["webhook_url"]
            url["nullable"] = True
            url["description"] = " ".join(
                filter(None, [url.get("description"), str(WEBHOOK_URL_HIDDEN)])
            )
        return schema


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(
        help_text=_(
            "The new HMAC-SHA256 key of this tenant's webhooks. Shown only in this answer: "
            "keep it where the webhooks are verified."
        )
    )


class DistributorSerializer(TenantSerializer):
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

    def is_csv(self) -> bool:
        return getattr(getattr(self.request, "accepted_renderer", None), "format", None) == "csv"

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_tenant(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=None, responses={200: WebhookSecretSerializer})
    @action(detail=True, methods=["post"], url_path="webhook-secret")
    def rotate_webhook_secret(self, request, pk=None):
        """A new webhook signing secret, shown in this answer and never again (the
        tenant's own admins and staff admins)."""
        secret = services.rotate_webhook_secret(request.user, self.get_object())
        return Response({"webhook_secret": secret}, headers={"Cache-Control": "no-store"})


class DistributorViewSet(TenantViewSet):
    model = Distributor
    serializer_class = DistributorSerializer
    filterset_class = DistributorFilterSet
    csv_filename = "distributors"
    create_service = services.create_distributor

    def get_csv_export(self):
        return exports.distributor_export(self.request.user)


class PartnerSerializer(TenantSerializer):
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
        if self.action == "list" and self.is_csv():  # the distributors read in the join
            return exports.partners_for_csv(Partner.objects.all(), self.request.user)
        return Partner.objects.prefetch_related("distributors")

    def get_csv_export(self):
        return exports.partner_export(self.request.user)


class OrganizationSerializer(TenantSerializer):
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

    def get_csv_export(self):
        return exports.organization_export(self.request.user)


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
            "is_active",
            "invitation_pending",
        ]
        extra_kwargs = {"email": {"required": True}, "is_active": {"read_only": True}}

    invitation_pending = serializers.BooleanField(
        read_only=True,
        help_text=_("Invited, and the invitation's link not used yet (no password)."),
    )

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
            "is_active": instance.is_active,
            "invitation_pending": services.invitation_pending(instance),
        }


INVITABLE_ROLE_CHOICES = [(role.value, role.label) for role in services.INVITABLE_ROLES]


class InviteSerializer(serializers.Serializer):
    """A user invited by e-mail: created without a password, their username the e-mail
    address; the e-mail's one-time link (7 days) sets the password."""

    email = serializers.EmailField(max_length=150)
    name = serializers.CharField(
        max_length=150, required=False, default="", validators=[validate_one_line]
    )
    role = serializers.ChoiceField(choices=INVITABLE_ROLE_CHOICES)
    tenant_type = serializers.ChoiceField(choices=TenantType.choices)
    tenant_id = serializers.IntegerField(allow_null=True, required=False, min_value=1)
    language = serializers.ChoiceField(
        choices=NOTICE_LANGUAGES,
        default="en",
        help_text=_("The language of the invitation and of the user's notices."),
    )


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=INVITABLE_ROLE_CHOICES)


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
    csv_export = exports.USER_CSV

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

    @extend_schema(request=InviteSerializer, responses={201: UserSerializer})
    @action(detail=False, methods=["post"])
    def invite(self, request):
        """Invite a user by e-mail into a tenant the caller manages (the same rules as
        the /users/ page): 201 once the e-mail is accepted by the mail server."""
        serializer = InviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        person = services.invite_user(
            request.user,
            email=data["email"],
            name=data["name"],
            role=data["role"],
            tenant_type=data["tenant_type"],
            tenant_id=data.get("tenant_id"),
            language=data["language"],
        )
        return Response(UserSerializer(person).data, status=201)

    @extend_schema(request=RoleSerializer, responses={200: UserSerializer})
    @action(detail=True, methods=["post"])
    def role(self, request, pk=None):
        """Make the user an admin or a viewer. The tenant's last active admin is kept: 400."""
        person = self.get_object()
        serializer = RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        person = services.change_role(request.user, person, serializer.validated_data["role"])
        return Response(UserSerializer(person).data)

    @extend_schema(request=None, responses={200: UserSerializer})
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate the user: their sessions end, their API tokens are revoked. The
        tenant's last active admin is kept: 400."""
        person = services.deactivate_user(request.user, self.get_object())
        return Response(UserSerializer(person).data)
