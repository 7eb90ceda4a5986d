from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensesConfig(AppConfig):
    name = "wlm.licenses"
    verbose_name = _("Licenses")
