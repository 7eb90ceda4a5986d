"""Business rules of the licenses app. For now: the module catalogue (staff only)."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from wlm.lib.problems import Conflict
from wlm.licenses.models import Module
from wlm.tenancy.scoping import actor_of

MODULE_FIELDS = ("name", "description", "advanced")


def _require_staff(user) -> None:
    if not actor_of(user).is_staff:
        raise PermissionDenied(_("Only the platform operator keeps the module catalogue."))


def create_module(user, *, code: str, **fields) -> Module:
    _require_staff(user)
    try:
        with transaction.atomic():
            return Module.objects.create(code=code, **fields)
    except IntegrityError:
        raise Conflict(_("A module with the code %(code)s exists.") % {"code": code}) from None


def update_module(user, module: Module, **fields) -> Module:
    _require_staff(user)
    changed = [name for name in MODULE_FIELDS if name in fields]
    for name in changed:
        setattr(module, name, fields[name])
    if changed:
        module.save(update_fields=changed)
    return module
