from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConnectionsConfig(AppConfig):
    """Device-connection intake from the Wi-Fi data plane, and the trigger that starts a
    license once enough distinct devices have connected."""

    name = "wlm.connections"
    verbose_name = _("Device connections")
