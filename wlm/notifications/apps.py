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

        # the notifier's lag in the metrics, read when scraped
        from wlm.notifications import worker
        from wlm.operations import metrics

        metrics.provide(
            "wlm_notifier_lag_seconds",
            "Age of the oldest due notice not yet decided, and of the oldest due delivery "
            "not yet claimed (0: none waits).",
            ["queue"],
            lambda: {(queue,): seconds for queue, seconds in worker.lag().items()},
        )
