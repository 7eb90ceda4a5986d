"""``/api/v1/audit/``: the audit log, read-only, through the tenancy door; ``?format=csv``
streams every filtered entry."""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers

from wlm.audit.filters import AuditFilterSet
from wlm.audit.models import AuditEntry, Kind, may_read
from wlm.lib.api import ScopedViewSet
from wlm.lib.csv import Column, DateTime, Export, Label, ListModelMixin
from wlm.tenancy.models import TenantType
from wlm.tenancy.permissions import TenantPermission


class AuditReaderPermission(TenantPermission):
    """Tenant admins and staff read the log (viewers and the gateway: 403); nobody writes
    it through the API."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return may_read(request.user)


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        source="actor_id",
        allow_null=True,
        help_text=_("The user's id; null for the system and for a failed login."),
    )
    name = serializers.CharField(
        source="actor_name",
        help_text=_('The user\'s name when it acted, "system" or "anonymous".'),
    )


class AuditTenantSerializer(serializers.Serializer):
    type = serializers.ChoiceField(source="tenant_type", choices=TenantType.choices)
    id = serializers.IntegerField(source="tenant_id", allow_null=True)


class AuditObjectSerializer(serializers.Serializer):
    type = serializers.CharField(source="object_type")
    id = serializers.CharField(source="object_id")
    label = serializers.CharField(source="object_label")


class AuditEntrySerializer(serializers.ModelSerializer):
    """One change: who, whose, what, the changed fields before and after, from where."""

    kind = serializers.ChoiceField(choices=Kind.choices)
    kind_label = serializers.CharField(source="get_kind_display")
    actor = AuditActorSerializer(source="*")
    tenant = AuditTenantSerializer(source="*")
    object = AuditObjectSerializer(source="*")
    before = serializers.DictField(help_text=_("The changed fields' values before."))
    after = serializers.DictField(help_text=_("The changed fields' values after."))

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "kind",
            "kind_label",
            "actor",
            "tenant",
            "object",
            "before",
            "after",
            "address",
            "user_agent",
        ]
        read_only_fields = fields


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


# ``?format=csv``: one flat row per entry, the JSON row's fields in its order
AUDIT_CSV = Export(
    [
        Column("id"),
        DateTime("at"),
        Column("kind"),
        Column("actor_id"),
        Column("actor_name"),
        Column("tenant_type"),
        Column("tenant_id"),
        Column("object_type"),
        Column("object_id"),
        Column("object_label"),
        Column("before", write=_json),
        Column("after", write=_json),
        Column("address"),
        Column("user_agent"),
        Label("kind_label", "kind", Kind.choices),
    ]
)


class AuditViewSet(ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The entries the caller's tenant may read, newest first."""

    model = AuditEntry
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilterSet
    permission_classes = [AuditReaderPermission]
    ordering_fields = ["at"]
    ordering = ["-at", "-id"]
    csv_filename = "audit"
    csv_export = AUDIT_CSV
