"""The API's one permission class: who may call which view, by tenant and role.

Rows themselves are scoped by ``visible_to`` / ``managed_by`` (wlm.tenancy.scoping);
this class adds the role rules, before any row is looked up:
- anonymous: 401; a user without a tenant: 403;
- ``gateway``: only views that declare ``gateway_access = True`` (the data plane);
- unsafe methods: ``admin`` role, and a right the view declares: ``may_write(user)``
  when the rule lives in a service or the lifecycle (the functions the pages' buttons
  ask), else a tenant type listed in ``write_tenant_types`` (default: staff only). The
  view then checks the row.

A token's scope is not checked here: a ``read`` token is refused every unsafe method by
the authentication (``wlm.tenancy.authentication``), for every view whatever its
permission class.
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
        may_write = getattr(view, "may_write", None)
        if may_write is not None:
            allowed = may_write(request.user)
        else:
            allowed = actor.tenant_type in getattr(view, "write_tenant_types", (STAFF,))
        if not allowed:
            self.message = _("Your organization type cannot change this resource.")
            return False
        return True
