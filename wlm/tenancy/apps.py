from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "wlm.tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from wlm.lib import search
        from wlm.tenancy import signals  # noqa: F401 (a password change revokes tokens)

        # q's accent-blind comparison on SQLite (wlm/lib/search.py)
        connection_created.connect(search.register, dispatch_uid="wlm_fold")
