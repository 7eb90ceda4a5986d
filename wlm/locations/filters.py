"""One FilterSet per list, shared by the API, the pages and the CSV export."""

import django_filters
from django.utils.translation import gettext_lazy as _

from wlm.lib.filters import SearchFilterSet
from wlm.locations.models import Location, Sector


class LocationFilterSet(SearchFilterSet):
    sector = django_filters.MultipleChoiceFilter(choices=Sector.choices, label=_("Sector"))

    class Meta:
        model = Location
        fields = ["organization", "sector", "country"]
        search_fields = ("name", "address", "timezone", "organization__name")
