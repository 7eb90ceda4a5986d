from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """Data to try and to measure the product with: ``seed_demo`` (the demo tenants,
    users and licenses of ``make run``) and ``generate_load`` (platform-scale data for
    ``make bench``). It writes through every app, and nothing imports it but the tests
    and the benchmarks."""

    name = "wlm.demo"
    verbose_name = _("Demo and load data")
