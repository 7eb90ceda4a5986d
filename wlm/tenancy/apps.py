from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "wlm.tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        from wlm.tenancy import signals  # noqa: F401 (a password change revokes tokens)
