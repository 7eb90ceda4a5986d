from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    """Probes, Prometheus metrics and the notifiers' heartbeats (docs/operations.md)."""

    name = "wlm.operations"
    verbose_name = _("Operations")

    def ready(self):
        from django.core.signals import got_request_exception

        from wlm.lib import database
        from wlm.operations import probes
        from wlm.operations.middleware import count_answered_away, count_database_error

        # a request that failed on the database: the one Django turns into a 500 (or its
        # handler into a 503), and the one an API view answers 503 itself
        got_request_exception.connect(count_database_error, dispatch_uid="wlm.operations")
        database.answered_away.connect(count_answered_away, dispatch_uid="wlm.operations")
        probes.provide_gauges()
