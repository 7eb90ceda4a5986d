"""Filtering helpers shared by every list: strict ordering and the ``q`` search."""

from functools import reduce
from operator import or_

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=a,-b``; an unknown field is a 400, not silently ignored."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        fields = [param.strip() for param in params.split(",") if param.strip()]
        allowed = {
            name for name, _label in self.get_valid_fields(queryset, view, {"request": request})
        }
        unknown = [f for f in fields if f.lstrip("-") not in allowed]
        if unknown or not fields:
            raise ValidationError(
                {
                    self.ordering_param: [
                        _("Unknown ordering field. Choose from: %s.") % ", ".join(sorted(allowed))
                    ]
                }
            )
        return fields


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with ``q``: a case-insensitive search over ``Meta.search_fields``.

    One FilterSet per list serves the API, the pages and the CSV export.
    """

    q = django_filters.CharFilter(method="search", label=_("Search"), max_length=200)

    def search(self, queryset, name, value):
        terms = value.split()
        fields = getattr(self.Meta, "search_fields", ())
        for term in terms:
            queryset = queryset.filter(
                reduce(or_, (Q(**{f"{f}__icontains": term}) for f in fields))
            )
        return queryset
