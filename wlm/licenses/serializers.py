"""Serializers of the licenses API: the module catalogue, the entitlement check, license
requests, licenses with the tabs of the license view, and the bodies of their actions.
They validate and shape; ``services`` and ``lifecycle`` decide."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wlm.lib.api import ScopedPrimaryKeyRelatedField
from wlm.licenses import notices, services, tokens
from wlm.licenses.models import (
    License,
    LicenseRequest,
    LicenseStatus,
    Module,
    Payment,
    RequestKind,
    StartMode,
)
from wlm.licenses.queries import assignments_with_counts
from wlm.locations.models import Location
from wlm.tenancy.models import Distributor


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


# --- License requests and licenses ----------------------------------------------------

LIMIT_FIELD = {
    "min_value": 1,
    "max_value": services.MAX_LIMIT,
    "required": False,
    "allow_null": True,
}


class ModuleCodeField(serializers.SlugRelatedField):
    """A module by its code. A code PostgreSQL cannot even compare (a NUL character) is
    "no such module" like any other unknown code, not a database error."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


def _module_codes(**kwargs):
    return ModuleCodeField(
        slug_field="code", queryset=Module.objects.all(), many=True, required=False, **kwargs
    )


class TermsSerializer(serializers.Serializer):
    """The fields of a request, and of a license made without one (DESIGN §2)."""

    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())
    distributor = ScopedPrimaryKeyRelatedField(
        queryset=Distributor.objects.all(),
        required=False,
        help_text=_("Optional for a distributor: its own."),
    )
    years = serializers.IntegerField(min_value=1, max_value=5)
    payment = serializers.ChoiceField(choices=Payment.choices)
    aps = serializers.IntegerField(**LIMIT_FIELD)
    rooms = serializers.IntegerField(**LIMIT_FIELD)
    modules = _module_codes()

    def terms(self) -> services.Terms:
        data = self.validated_data
        return services.Terms(
            location=data["location"],
            distributor=data.get("distributor")
            or services.own_distributor(self.context["request"].user),
            years=data["years"],
            payment=data["payment"],
            aps=data.get("aps"),
            rooms=data.get("rooms"),
            modules=tuple(data.get("modules", ())),
        )


class NewRequestSerializer(TermsSerializer):
    """A request for a new license: the terms, and ``kind`` if sent, ``new`` (a renewal
    or an upgrade is a ``ChangeRequestSerializer``)."""

    kind = serializers.ChoiceField(choices=[RequestKind.NEW], default=RequestKind.NEW)


# the fields each kind of change takes; any other is a 400 (not silently dropped)
CHANGE_FIELDS = {
    RequestKind.RENEWAL: {"license", "kind", "years"},
    RequestKind.UPGRADE: {"license", "kind", "aps", "rooms", "add_modules", "remove_modules"},
}


class ChangeRequestSerializer(serializers.Serializer):
    """A request for a renewal (``years``) or an upgrade (``aps`` or ``rooms``, modules
    to add and to remove) of an existing license (docs/api.md)."""

    license = ScopedPrimaryKeyRelatedField(queryset=License.objects.all())
    kind = serializers.ChoiceField(choices=[RequestKind.RENEWAL, RequestKind.UPGRADE])
    years = serializers.IntegerField(
        min_value=1, max_value=5, required=False, help_text=_("A renewal's years.")
    )
    aps = serializers.IntegerField(**LIMIT_FIELD)
    rooms = serializers.IntegerField(**LIMIT_FIELD)
    add_modules = _module_codes()
    remove_modules = _module_codes()

    def validate(self, data):
        kind = data["kind"]
        errors = {
            name: [_("Not part of a request for this kind of change.")]
            for name in self.initial_data
            if name in self.fields and name not in CHANGE_FIELDS[kind]
        }
        if kind == RequestKind.RENEWAL and data.get("years") is None:
            errors["years"] = [_("This field is required.")]
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def request_change(self, user) -> LicenseRequest:
        data = dict(self.validated_data)
        license, kind = data.pop("license"), data.pop("kind")
        if kind == RequestKind.RENEWAL:
            return services.request_renewal(user, license, data["years"])
        return services.request_upgrade(user, license, **data)


class StartSerializer(serializers.Serializer):
    start_mode = serializers.ChoiceField(choices=StartMode.choices, default=StartMode.AUTOMATIC)
    fixed_start = serializers.DateField(required=False, allow_null=True, default=None)


class CreateLicenseSerializer(TermsSerializer, StartSerializer):
    pass


class LicenseRequestSerializer(serializers.ModelSerializer):
    modules = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    add_modules = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    remove_modules = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = LicenseRequest
        fields = [
            "id",
            "location",
            "partner",
            "distributor",
            "years",
            "payment",
            "aps",
            "rooms",
            "modules",
            "state",
            "reason",
            "license",
            "created",
            "decided",
            # a renewal or an upgrade of ``license`` (after the first fields, which keep
            # their places in the CSV)
            "kind",
            "add_modules",
            "remove_modules",
        ]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class LicenseSerializer(serializers.ModelSerializer):
    """A row of the licenses list."""

    modules = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    aps = serializers.IntegerField(read_only=True, allow_null=True)
    rooms = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = License
        fields = [
            "id",
            "key",
            "organization",
            "modules",
            "aps",
            "rooms",
            "status",
            "start_date",
            "end_date",
            "years",
            "payment",
            "distributor",
            "partner",
            "location",
            "license_type",
            "limit",
            "start_mode",
            "fixed_start",
            "timezone",
            "created",
            "provisioned",
        ]
        read_only_fields = fields


class GeneralSerializer(serializers.Serializer):
    aps = UsageSerializer()
    rooms = UsageSerializer()
    term_years = serializers.IntegerField()


class EventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name")
    kind = serializers.CharField()
    reason = serializers.CharField()
    before = serializers.DictField()
    after = serializers.DictField()


class AssignmentSerializer(serializers.Serializer):
    location = serializers.UUIDField(source="location_id")
    name = serializers.CharField(source="location.name")
    access_points = serializers.IntegerField(source="access_point_count")
    rooms = serializers.IntegerField(source="room_count")


class LicenseDetailSerializer(LicenseSerializer):
    """The license view: its row plus the tabs of DESIGN §6."""

    general = serializers.SerializerMethodField()
    upgrades = EventSerializer(source="events", many=True, read_only=True)
    notifications = serializers.SerializerMethodField()
    assignments = serializers.SerializerMethodField()
    token = serializers.SerializerMethodField(
        help_text=_(
            "The license's terms as last issued, signed (compact JWS, EdDSA): verify it "
            "offline with /.well-known/jwks.json (docs/licenses-offline.md)."
        )
    )

    class Meta(LicenseSerializer.Meta):
        fields = [
            *LicenseSerializer.Meta.fields,
            "general",
            "upgrades",
            "notifications",
            "assignments",
            "token",
        ]
        read_only_fields = fields

    def _assignments(self, license):
        if not hasattr(license, "_assignment_rows"):
            license._assignment_rows = list(assignments_with_counts(license))
        return license._assignment_rows

    def get_token(self, license) -> str:
        return tokens.latest(license)

    @extend_schema_field(GeneralSerializer)
    def get_general(self, license):
        rows = self._assignments(license)
        return {
            "aps": {"max": license.aps, "used": sum(row.access_point_count for row in rows)},
            "rooms": {"max": license.rooms, "used": sum(row.room_count for row in rows)},
            "term_years": license.years,
        }

    @extend_schema_field(notices.reader().serializer(many=True))
    def get_notifications(self, license):
        request = self.context.get("request")  # recipients are masked by who asks
        reader = notices.reader()
        lines = reader.lines(license, getattr(request, "user", None))
        return reader.serializer(lines, many=True).data

    @extend_schema_field(AssignmentSerializer(many=True))
    def get_assignments(self, license):
        return AssignmentSerializer(self._assignments(license), many=True).data


class AssignSerializer(serializers.Serializer):
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())


class UpgradeSerializer(serializers.Serializer):
    aps = serializers.IntegerField(**LIMIT_FIELD)
    rooms = serializers.IntegerField(**LIMIT_FIELD)
    add_modules = _module_codes()
    remove_modules = _module_codes()
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RenewSerializer(serializers.Serializer):
    years = serializers.IntegerField(min_value=1, max_value=5)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


# --- Send Key --------------------------------------------------------------------------


class KeySerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)
