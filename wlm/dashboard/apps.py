from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    """The dashboard: what needs a look today, read from every app (it sits above them)."""

    name = "wlm.dashboard"
    verbose_name = _("Dashboard")
