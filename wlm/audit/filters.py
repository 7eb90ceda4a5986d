"""The audit log's one FilterSet: the API, the page and the CSV export filter alike."""

import datetime as dt

import django_filters
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wlm.audit.models import AuditEntry, Kind
from wlm.lib.filters import SearchFilterSet
from wlm.lib.widgets import LocalDateInput

BIGINT = 2**63 - 1


def _midnight(day: dt.date) -> dt.datetime:
    """The first moment of ``day`` in the reader's time zone (the page's, the API's)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class AuditFilterSet(SearchFilterSet):
    """Each filter is a plain column (no join, no ``DISTINCT``): with the scope column and
    the log's order it reads one index (docs/audit.md, "At scale")."""

    kind = django_filters.MultipleChoiceFilter(
        choices=Kind.choices,
        label=_("Kind"),
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
        help_text=_("What changed; repeat for any of several."),
    )
    actor = django_filters.NumberFilter(
        field_name="actor_id",
        label=_("Actor (user id)"),
        min_value=1,
        max_value=BIGINT,
        help_text=_("The id of the user who made the change."),
    )
    object_type = django_filters.CharFilter(
        label=_("Object type"),
        max_length=40,
        help_text=_('The changed object\'s type, e.g. "licenses.license", "locations.room".'),
    )
    object_id = django_filters.CharFilter(
        label=_("Object id"),
        max_length=64,
        help_text=_("The changed object's id (with object_type)."),
    )
    since = django_filters.DateFilter(
        method="filter_since",
        label=_("From"),
        widget=LocalDateInput(),
        help_text=_("Entries on or after this day (your time zone)."),
    )
    until = django_filters.DateFilter(
        method="filter_until",
        label=_("Until"),
        widget=LocalDateInput(),
        help_text=_("Entries on or before this day (your time zone)."),
    )

    class Meta:
        model = AuditEntry
        fields = ["kind", "actor", "object_type", "object_id"]
        search_fields = ("object_label", "actor_name")

    # the first and last years are not moments any database stores in UTC from every zone
    def filter_since(self, queryset, name, value):
        if value.year <= dt.MINYEAR:
            return queryset
        return queryset.filter(at__gte=_midnight(value))

    def filter_until(self, queryset, name, value):
        if value.year >= dt.MAXYEAR:
            return queryset
        return queryset.filter(at__lt=_midnight(value + dt.timedelta(days=1)))
