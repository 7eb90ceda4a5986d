from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DataPlaneConfig(AppConfig):
    """The data plane's lean path: the entitlement check answered before Django, from
    facts each process keeps."""

    name = "wlm.dataplane"
    verbose_name = _("Data plane")

    def ready(self):
        from django.db.models.signals import post_migrate

        from wlm.dataplane.triggers import install_after_migrate

        post_migrate.connect(install_after_migrate, sender=self)
