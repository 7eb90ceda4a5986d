from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """Expiry notices, the outbox, channels and the notifier worker."""

    name = "wlm.notifications"
    verbose_name = _("Notifications")
