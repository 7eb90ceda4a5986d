"""The installer devices' FilterSet, shared by the API and the page."""

import django_filters
from django.utils.translation import gettext_lazy as _

from wlm.connections.installers import hashed_mac
from wlm.connections.models import InstallerDevice
from wlm.lib.filters import SearchFilterSet
from wlm.lib.validators import normalize_mac


class InstallerDeviceFilterSet(SearchFilterSet):
    """``mac``: is this device registered? (Compared by its hash: the MAC is not stored.)"""

    mac = django_filters.CharFilter(
        method="filter_mac",
        max_length=32,
        validators=[normalize_mac],  # a malformed MAC is a 400 naming the filter
        label=_("MAC address"),
        help_text=_("An installer device's MAC address, in any usual notation."),
    )

    class Meta:
        model = InstallerDevice
        fields = ["partner"]
        search_fields = ("label",)

    def filter_mac(self, queryset, name, value):
        return queryset.filter(device=hashed_mac(value))
