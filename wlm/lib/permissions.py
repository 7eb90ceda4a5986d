"""The API's one permission class: who may call which view, by tenant and role.

Rows themselves are scoped by ``visible_to`` / ``managed_by`` (wlm.tenancy.scoping);
this class adds the role rules:
- anonymous: 401; a user without a tenant: 403;
- ``gateway``: only views that declare ``gateway_access = True`` (the data plane);
- unsafe methods: ``admin`` role, of a tenant type the view lists in
  ``write_tenant_types`` (default: staff only).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions

from wlm.tenancy.scoping import STAFF, actor_of


class TenantPermission(permissions.BasePermission):
    message = _("You do not have permission to perform this action.")

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        actor = actor_of(request.user)
        if actor.tenant_type is None:
            return False
        if actor.is_gateway:
            return bool(getattr(view, "gateway_access", False))
        if request.method in permissions.SAFE_METHODS:
            return True
        if not actor.is_admin:
            self.message = _("Your role is read-only.")
            return False
        allowed = getattr(view, "write_tenant_types", (STAFF,))
        if actor.tenant_type not in allowed:
            self.message = _("Your organization type cannot change this resource.")
            return False
        return True
