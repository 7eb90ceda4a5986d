"""Filtering helpers shared by every list: strict ordering and the ``q`` search."""

from functools import reduce
from operator import or_

import django_filters
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, models
from django.db.models import F, Lookup, Q
from django.db.models.fields.related import ManyToManyRel, ManyToOneRel, OneToOneRel
from django.utils.translation import gettext_lazy as _
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from wlm.lib.search import folded_contains


def _nullable(queryset, name: str) -> bool:
    """Whether the ordering field ``name`` of ``queryset`` can be empty: an annotation (a
    masked or computed column), a nullable column, or a column reached through a
    nullable foreign key (``organization__name`` of a license not yet activated)."""
    if name in queryset.query.annotations:
        return True
    model = queryset.model
    for part in name.split("__"):
        if part == "pk":
            return False
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if field.null:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


def ordering_terms(queryset, fields: list[str]) -> list:
    """``?ordering`` fields (``end_date``, ``-end_date``) as ``order_by`` terms, ending
    with the id so that ties keep one order: the API, the pages and the CSV sort alike.

    A field that can be empty (``_nullable``) puts its empty rows last, whichever way
    one sorts (``NULLS LAST`` both ways; by default PostgreSQL puts them last going up
    and first going down, SQLite the other way round)."""
    terms = []
    for field in fields:
        name = field.lstrip("-")
        if not _nullable(queryset, name):
            terms.append(field)
        elif field.startswith("-"):
            terms.append(F(name).desc(nulls_last=True))
        else:
            terms.append(F(name).asc(nulls_last=True))
    if not {"pk", "id", "-pk", "-id"} & set(fields):
        terms.append("pk")  # ties in a stable order, so pages neither repeat nor skip rows
    return terms


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=a,-b``; an unknown field is a 400, not silently ignored. Empty values
    sort last both ways, ties by id (``ordering_terms``)."""

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
                        _("Unknown ordering field. Choose from: %(fields)s.")
                        % {"fields": ", ".join(sorted(allowed))}
                    ]
                }
            )
        return ordering_terms(queryset, fields)


# ``q`` across a foreign key: up to this many matching related rows are passed as ids.
SEARCH_IDS = 2000

INT64 = range(-(2**63), 2**63)


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Ids beyond 64 bits are invalid choices (SQLite would raise OverflowError)."""

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        field = (
            self.queryset.model._meta.pk
            if key == "pk"
            else self.queryset.model._meta.get_field(key)
        )
        if isinstance(field, models.IntegerField):
            for pk in value:
                try:
                    number = int(str(pk))
                except ValueError:
                    continue  # the parent class reports it
                if number not in INT64:
                    raise DjangoValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": pk},
                    )
        return super()._check_values(value)


class BoundedModelMultipleChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = BoundedModelMultipleChoiceField


def _visible_queryset(model):
    def queryset(request):
        rows = model._default_manager.all()
        if not hasattr(rows, "visible_to"):
            return rows
        return rows.visible_to(getattr(request, "user", None))

    return queryset


def _scoped_relation_filter(spec: dict) -> dict:
    multiple = spec["filter_class"] is django_filters.ModelMultipleChoiceFilter

    def extra(field):
        return {**spec["extra"](field), "queryset": _visible_queryset(field.related_model)}

    return {
        "filter_class": BoundedModelMultipleChoiceFilter if multiple else spec["filter_class"],
        "extra": extra,
    }


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with ``q``: a case-insensitive search over ``Meta.search_fields``.

    One FilterSet per list serves the API, the pages and the CSV export.
    """

    # Relation filters choose among the rows the caller can see, so an invisible id
    # is answered like a missing one (400), and ids beyond 64 bits are refused.
    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        **{
            field: _scoped_relation_filter(FILTER_FOR_DBFIELD_DEFAULTS[field])
            for field in (
                models.ForeignKey,
                models.OneToOneField,
                models.ManyToManyField,
                OneToOneRel,
                ManyToOneRel,
                ManyToManyRel,
            )
        },
    }

    q = django_filters.CharFilter(method="search", label=_("Search"), max_length=200)

    def search(self, queryset, name, value):
        return search(queryset, getattr(self.Meta, "search_fields", ()), value)


def search(queryset, fields, text: str):
    """The rows of ``queryset`` with each word of ``text`` in one of ``fields``, accents
    and case aside: the lists' ``q`` (``_contains``: a field across a foreign key is read
    from the related table's trigram index). Also the request form's location search."""
    for term in text.split():
        queryset = queryset.filter(
            reduce(or_, (_contains(queryset.model, f, term) for f in fields))
        )
    return queryset


class AnyOf(Lookup):
    """``column = ANY(%s)`` with the values as one array parameter (PostgreSQL): one
    parameter instead of one per value, and the planner still counts the values."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        array_type = self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY(%s::{array_type}[])", [*params, list(self.rhs)]


def _matches(path: str, term: str) -> Q:
    """``path`` contains ``term``: accents and case aside (wlm/lib/search.py), but for a
    license key (capitals and digits: ``icontains`` and its own trigram index)."""
    if path == "key" or path.endswith("__key"):
        return Q(**{f"{path}__icontains": term})
    return Q(folded_contains(path, term))


def _contains(model, path: str, term: str) -> Q:
    """``path`` contains ``term`` (``_matches``); across a foreign key, as ``fk IN (SELECT
    pk … WHERE … LIKE …)``: the same rows as the join, but PostgreSQL answers the subquery
    from a trigram index of the related table (docs/api.md, "Lists at scale") instead of
    joining every candidate row to test its name."""
    first, _, rest = path.partition("__")
    if rest:
        field = model._meta.get_field(first)
        if field.concrete and (field.many_to_one or field.one_to_one):
            matching = field.related_model._base_manager.filter(_matches(rest, term)).values_list(
                field.target_field.name, flat=True
            )
            if connections[matching.db].vendor == "postgresql":
                # A few matching rows: their ids as constants, so the planner sees how
                # few they are and reads the list's rows from the foreign key's index
                # (a BitmapOr over the search columns). Many: the subquery, tested on
                # the rows the other filters leave.
                ids = list(matching.order_by()[: SEARCH_IDS + 1])
                if len(ids) <= SEARCH_IDS:
                    return Q(AnyOf(F(field.attname), ids)) if ids else Q(pk__in=[])
            return Q(**{f"{first}__in": matching})
    return _matches(path, term)
