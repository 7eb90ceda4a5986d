"""What every page shows about who is signed in: the tenant and the role."""

from django.utils.functional import SimpleLazyObject

from wlm.tenancy.models import Role, TenantType
from wlm.tenancy.scoping import actor_of
from wlm.tenancy.services import TENANT_MODELS


def _tenant_name(actor) -> str:
    model = TENANT_MODELS.get(actor.tenant_type)
    if model is None or actor.tenant_id is None:
        return str(TenantType.STAFF.label) if actor.tenant_type == TenantType.STAFF else ""
    return model.objects.filter(pk=actor.tenant_id).values_list("name", flat=True).first() or ""


def actor(request) -> dict:
    """``actor`` (tenancy's Actor), ``tenant_name``, ``tenant_label`` and ``role_label``."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    who = actor_of(user)
    return {
        "actor": who,
        "tenant_name": SimpleLazyObject(lambda: _tenant_name(who)),
        "tenant_label": TenantType(who.tenant_type).label if who.tenant_type else "",
        "role_label": Role(who.role).label if who.role else "",
    }
