from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    """Expiry notices, the outbox, channels and the notifier worker."""

    name = "wlm.notifications"
    verbose_name = _("Notifications")

    def ready(self):
        # the license view shows a license's notices without importing this app
        from wlm.licenses import notices
        from wlm.notifications.queries import license_notice_lines, license_notices_prefetch
        from wlm.notifications.serializers import LicenseNoticeSerializer

        notices.provide(
            notices.NoticesReader(
                prefetch=license_notices_prefetch,
                lines=license_notice_lines,
                serializer=LicenseNoticeSerializer,
            )
        )
