"""The module catalogue (licenses, requests and history arrive with issue 3)."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wlm.tenancy.scoping import Actor, ScopedQuerySet


class ModuleQuerySet(ScopedQuerySet):
    """The catalogue is readable by every tenant and managed by staff only."""

    def _visible_filter(self, actor: Actor):
        return Q()

    def _managed_filter(self, actor: Actor):
        return None


class Module(models.Model):
    """A platform module a license can enable. Data, not code (DESIGN §2)."""

    code = models.CharField(
        _("code"),
        max_length=40,
        primary_key=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]*$", _("Use lowercase letters, digits and _."))
        ],
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    advanced = models.BooleanField(
        _("advanced"), default=True, help_text=_("Advanced modules are bought on top of the base.")
    )

    objects = ModuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("module")
        verbose_name_plural = _("modules")
        ordering = ["advanced", "code"]

    def __str__(self) -> str:
        return self.name
