"""One FilterSet per list (licenses, license requests, modules), shared by the API, the
pages and the CSV export."""

import django_filters
from django import forms
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Replace
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from wlm.lib.filters import SearchFilterSet
from wlm.lib.search import folded_contains
from wlm.lib.widgets import LocalDateInput, TrueCheckbox
from wlm.licenses.keys import ALPHABET, typed_symbols
from wlm.licenses.limits import in_use
from wlm.licenses.models import (
    ACTIVE_STATUSES,
    Assignment,
    License,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    Module,
)
from wlm.locations.models import AccessPoint, Room
from wlm.tenancy.models import Partner

_KEY_CHARACTERS = frozenset(ALPHABET)
MAX_LIMIT_FILTER = 2**31 - 1


_DATE = LocalDateInput()  # typed as the reader's language writes dates

# A license is near its limit when the elements in use reach this share of it.
NEAR_LIMIT_PERCENT = 90


def near_limit(licenses: QuerySet) -> QuerySet:
    """The licenses of ``licenses`` near their limit (``near_limit=true``, the dashboard):
    holding their locations (an active status: a finalized license limits nothing) with
    elements in use (``limits.in_use``, the one count) at least ``NEAR_LIMIT_PERCENT``
    of the limit; annotated with ``used``.

    A limit is at least 1, so such a license has an element at one of its locations: the
    rows looked at are those assigned to a location with an access point or a room (a
    semi-join from the elements), and only they are counted."""
    with_elements = (
        AccessPoint.objects.order_by()
        .values("location_id")
        .union(Room.objects.order_by().values("location_id"), all=True)
    )
    candidates = Assignment.objects.filter(location__in=with_elements).values("license_id")
    used = Case(
        When(license_type=LicenseType.ROOMS, then=in_use(Room, OuterRef("pk"))),
        default=in_use(AccessPoint, OuterRef("pk")),
        output_field=IntegerField(),
    )
    return (
        licenses.filter(status__in=ACTIVE_STATUSES, pk__in=candidates)
        .annotate(used=used)
        .alias(used_percent=F("used") * 100)
        .filter(used_percent__gte=F("limit") * NEAR_LIMIT_PERCENT)
    )


class LicenseFilterSet(SearchFilterSet):
    # The widgets are for the page's filter panel; they read the query string exactly as
    # the API's default widgets do (repeated values, ISO dates).
    # a column of the row: no join, so no DISTINCT (it would sort every matching row)
    status = django_filters.MultipleChoiceFilter(
        choices=LicenseStatus.choices,
        label=_("Status"),
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
    )
    key = django_filters.CharFilter(method="filter_key", max_length=100, label=_("License key"))
    organization_name = django_filters.CharFilter(
        field_name="organization__name",
        lookup_expr="icontains",
        max_length=200,
        label=_("Organization"),
    )
    module = django_filters.ModelMultipleChoiceFilter(
        field_name="modules",
        to_field_name="code",
        queryset=Module.objects.all(),
        method="filter_modules",
        label=_("Module"),
        widget=forms.CheckboxSelectMultiple,
    )
    aps = django_filters.NumberFilter(
        method="filter_limit", min_value=0, max_value=MAX_LIMIT_FILTER, label=_("APs")
    )
    rooms = django_filters.NumberFilter(
        method="filter_limit", min_value=0, max_value=MAX_LIMIT_FILTER, label=_("Rooms")
    )
    start_after = django_filters.DateFilter(
        field_name="start_date", lookup_expr="gte", label=_("Start date from"), widget=_DATE
    )
    start_before = django_filters.DateFilter(
        field_name="start_date", lookup_expr="lte", label=_("Start date until"), widget=_DATE
    )
    end_after = django_filters.DateFilter(
        field_name="end_date", lookup_expr="gte", label=_("End date from"), widget=_DATE
    )
    end_before = django_filters.DateFilter(
        field_name="end_date", lookup_expr="lte", label=_("End date until"), widget=_DATE
    )
    location = django_filters.UUIDFilter(method="filter_location", label=_("Location"))
    # a method filter: its schema is given (drf-spectacular finds no model field)
    near_limit = extend_schema_field({"type": "string", "enum": ["true", "false"]})(
        django_filters.TypedChoiceFilter(
            choices=[("true", "true"), ("false", "false")],
            coerce=lambda value: value == "true",
            method="filter_near_limit",
            label=_("Near their limit"),
            widget=TrueCheckbox,  # the page's panel: one box (unchecked: no filter)
        )
    )

    class Meta:
        model = License
        fields = ["status", "organization", "distributor", "partner", "payment", "years"]
        search_fields = (
            "key",
            "organization__name",
            "location__name",
            "partner__name",
            "distributor__name",
        )

    def filter_key(self, queryset, name, value):
        """Part of a key, typed as people type it: what Send Key forgives is forgiven."""
        text = typed_symbols(value)
        if not text:
            return queryset
        if not set(text) <= _KEY_CHARACTERS:
            return queryset.none()
        # compared without the group hyphens, so any grouping of the input matches
        compact = Replace("key", Value("-"), Value(""))
        return queryset.alias(compact_key=compact).filter(compact_key__contains=text)

    def filter_limit(self, queryset, name, value):
        license_type = LicenseType.ROOMS if name == "rooms" else LicenseType.APS
        return queryset.filter(license_type=license_type, limit=value)

    def filter_modules(self, queryset, name, value):
        """Licenses with any of the chosen modules (subquery: no duplicate rows)."""
        if not value:
            return queryset
        with_modules = License.modules.through.objects.filter(module__in=value)
        return queryset.filter(pk__in=with_modules.values("license_id"))

    def filter_location(self, queryset, name, value):
        """Licenses made for or assigned to the location."""
        assigned = Assignment.objects.filter(location_id=value).values("license_id")
        return queryset.filter(Q(location_id=value) | Q(pk__in=assigned))

    def filter_near_limit(self, queryset, name, value):
        """``true``: the licenses near their limit (``near_limit``); ``false``: the others."""
        if value:
            return near_limit(queryset)
        return queryset.exclude(pk__in=near_limit(License.objects.all()).values("pk"))


class LicenseRequestFilterSet(SearchFilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=LicenseRequest._meta.get_field("state").choices, label=_("State"), distinct=False
    )
    kind = django_filters.MultipleChoiceFilter(
        choices=LicenseRequest._meta.get_field("kind").choices, label=_("Kind"), distinct=False
    )
    # the page's partner filter: a name typed, not a choice among every partner the user
    # sees (a distributor's network, every partner for staff), as the locations'
    # ``organization_name``; ``partner=<id>`` still selects one
    partner_name = django_filters.CharFilter(
        method="filter_partner_name",
        max_length=200,
        label=_("Partner"),
        help_text=_("Part of the partner's name, accents and case aside."),
    )

    class Meta:
        model = LicenseRequest
        fields = [
            "state",
            "kind",
            "location",
            "partner",
            "distributor",
            "license",
            "payment",
            "years",
        ]
        search_fields = ("location__name", "partner__name", "distributor__name", "reason")

    def filter_partner_name(self, queryset, name, value):
        """The partners whose name contains ``value`` as ``q`` compares (accents and case
        aside), as a subquery. The requests are already scoped, so another tenant's
        partner matches none of them."""
        value = value.strip()
        if not value:
            return queryset
        matching = Partner.objects.filter(folded_contains("name", value)).values("pk")
        return queryset.filter(partner__in=matching)


class ModuleFilterSet(SearchFilterSet):
    """The module catalogue: advanced or not, and a search over code, name and text."""

    advanced = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = Module
        fields = ["advanced"]
        search_fields = ("code", "name", "description")


def _label(filterset: type[SearchFilterSet], **labels) -> None:
    """Labels for the filters ``Meta.fields`` makes: django-filter derives theirs from
    the verbose names once and keeps that text, in whatever language was active then
    (the API schema reads them too), so they are given here, translated when shown."""
    for name, label in labels.items():
        filterset.base_filters[name].label = label


_label(
    LicenseFilterSet,
    organization=_("Organization"),
    distributor=_("Distributor"),
    partner=_("Partner"),
    payment=_("Payment"),
    years=_("Years"),
)
_label(
    LicenseRequestFilterSet,
    license=_("License"),
    location=_("Location"),
    partner=_("Partner"),
    distributor=_("Distributor"),
    payment=_("Payment"),
    years=_("Years"),
)
_label(ModuleFilterSet, advanced=_("Advanced"))
