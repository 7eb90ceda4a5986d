from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    """Deleting what is past its keeping, from every app's tables (it sits above them)."""

    name = "wlm.retention"
    verbose_name = _("Retention")
