"""The audit log's page: the API's queryset, FilterSet and CSV, for tenant admins and
staff (a viewer gets 403, as from the API)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from wlm.audit.filters import AuditFilterSet
from wlm.audit.models import AuditEntry, may_read
from wlm.lib.views import ScopedListView
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import actor_of


class AuditListView(ScopedListView):
    model = AuditEntry
    filterset_class = AuditFilterSet
    ordering_fields = ("at",)
    default_ordering = ("-at", "-id")
    api_url_name = "api:audit-list"
    template_name = "audit/list.html"
    results_template_name = "audit/_results.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_read(request.user):
            raise PermissionDenied(gettext("Only a tenant's admins and staff read the audit log."))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["show_tenant"] = actor_of(self.request.user).tenant_type != TenantType.ORGANIZATION
        return context
