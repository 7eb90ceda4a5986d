"""One FilterSet per list, shared by the API, the pages and the CSV export."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wlm.lib.filters import SearchFilterSet
from wlm.lib.search import folded_contains
from wlm.lib.widgets import LocalDateInput
from wlm.licenses.models import LicenseStatus
from wlm.locations.models import Location, Sector
from wlm.locations.queries import license_condition
from wlm.tenancy.models import Organization

NO_LICENSE = "none"

# The columns a locations list sorts by, in the API and on the page.
LOCATION_ORDERING = (
    "name",
    "sector",
    "country",
    "timezone",
    "created",
    "organization",
    "license_status",
    "license_end",
)


class LocationFilterSet(SearchFilterSet):
    """The ``license_*`` filters select on the location's license as the caller sees it
    (``queries.license_condition``: the rows whose ``with_license`` annotations match).
    The widgets are the page's (checkboxes, date inputs)."""

    sector = django_filters.MultipleChoiceFilter(
        choices=Sector.choices,
        label=_("Sector"),
        widget=forms.CheckboxSelectMultiple,
        distinct=False,  # a column of the row: no DISTINCT over the annotated rows
    )
    # the page's organization filter: a name typed, not a choice among every organization
    # the user sees (thousands of options); ``organization=<id>`` still selects one
    organization_name = django_filters.CharFilter(
        method="filter_organization_name",
        max_length=200,
        label=_("Organization"),
        help_text=_("Part of the organization's name, accents and case aside."),
    )
    license_status = django_filters.MultipleChoiceFilter(
        choices=[*LicenseStatus.choices, (NO_LICENSE, _("No license"))],
        method="filter_license_status",
        label=_("License status"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Status of the location's license; repeat for any of several. "
            "`none`: locations without a license (or whose license you cannot see)."
        ),
    )
    license_end_after = django_filters.DateFilter(
        field_name="license_end",
        lookup_expr="gte",
        method="filter_license_end_after",
        label=_("License ends on or after"),
        widget=LocalDateInput(),
        help_text=_("End date of the location's license on or after this date (inclusive)."),
    )
    license_end_before = django_filters.DateFilter(
        field_name="license_end",
        lookup_expr="lte",
        method="filter_license_end_before",
        label=_("License ends on or before"),
        widget=LocalDateInput(),
        help_text=_("End date of the location's license on or before this date (inclusive)."),
    )

    class Meta:
        model = Location
        fields = ["organization", "sector", "country"]
        search_fields = ("name", "address", "timezone", "organization__name")

    def _user(self):
        return getattr(self.request, "user", None)

    def filter_organization_name(self, queryset, name, value):
        """The organizations whose name contains ``value`` as ``q`` compares (accents and
        case aside): a subquery PostgreSQL answers from the organizations' trigram index.
        The locations are already scoped, so another tenant's organization matches none."""
        value = value.strip()
        if not value:
            return queryset
        matching = Organization.objects.filter(folded_contains("name", value)).values("pk")
        return queryset.filter(organization__in=matching)

    def filter_license_status(self, queryset, name, values):
        statuses = [value for value in values if value != NO_LICENSE]
        condition = Q()
        if statuses:
            condition |= license_condition(self._user(), status__in=statuses)
        if NO_LICENSE in values:
            condition |= Q(license_pk__isnull=True)
        return queryset.filter(condition)

    def filter_license_end_after(self, queryset, name, value):
        return queryset.filter(license_condition(self._user(), end_date__gte=value))

    def filter_license_end_before(self, queryset, name, value):
        return queryset.filter(license_condition(self._user(), end_date__lte=value))
