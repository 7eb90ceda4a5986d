from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "wlm.audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        from wlm.audit import signals  # noqa: F401 (logins and failed logins)
