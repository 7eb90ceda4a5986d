"""Page-number pagination whose ``page_size`` is validated, not silently bent, and whose
``count`` stops counting at ``COUNT_LIMIT`` rows (docs/api.md, "Lists at scale")."""

import contextlib
import math
from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import ForeignObjectRel
from django.db.models.sql.datastructures import Join
from django.db.models.sql.where import WhereNode
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

MAX_PAGE_SIZE = 500
# Rows counted at most for ``count``: a list of a million rows is not counted on every
# page. Beyond it, ``count`` is this number and ``count_capped`` is true.
COUNT_LIMIT = 1000
READ_IDS_UP_TO = 100 * COUNT_LIMIT


class CappedPaginator(Paginator):
    """A Django paginator that does not count a million rows on every page.

    One query reads the ids of the matching rows, in the list's order, up to ``limit``
    + 1 (or to the end of the page asked for, + 1, when that is further: any page can
    be reached and "next" is known); the page's rows are then read by id. The count is
    the ids read: exact up to the limit; with more rows, ``capped`` is true and
    ``shown_count`` (what lists display) is the limit. Count and page come from the
    same read. Used by the API (``PageNumberPagination``) and the pages
    (``ScopedListView``); a list that is not a queryset is paginated as Django does.
    """

    limit: int | None = COUNT_LIMIT
    _reach = 0
    _ids: list | None = None

    def page(self, number):
        with contextlib.suppress(TypeError, ValueError):  # validate_number() refuses it
            self._reach = max(int(number), 1) * self.per_page
        return super().page(number)

    def _reads_ids(self) -> bool:
        # a page deeper than READ_IDS_UP_TO rows (or ``page=last``) is counted in full
        # and read with OFFSET, as Django does: no list of that many ids
        return (
            self.limit is not None
            and self._reach <= READ_IDS_UP_TO
            and hasattr(self.object_list, "values_list")
        )

    @cached_property
    def count(self) -> int:
        if not self._reads_ids():
            return super().count
        self.counted_up_to = max(self.limit, self._reach)
        self._ids = self.read_ids(self.object_list, self.counted_up_to + 1)
        return len(self._ids)

    def read_ids(self, rows, limit: int) -> list:
        """The pks of the first ``limit`` rows, in the list's order (a subclass may read
        them another way: ``wlm.lib.plans.MatchesFirstPaginator``)."""
        return list(rows.values_list("pk", flat=True)[:limit])

    def _get_page(self, object_list, number, paginator):
        if self._ids is not None and hasattr(object_list, "query"):
            # object_list is the slice [bottom:top] of the rows: read those by id
            bottom = (number - 1) * self.per_page
            ids = self._ids[bottom : bottom + self.per_page]
            position = {pk: n for n, pk in enumerate(ids)}
            rows = self.object_list.all()
            if not _joins_many(rows.query):
                # the ids came from the filtered, scoped rows: read them by id alone (the
                # columns, annotations and prefetches stay), so the planner walks the
                # primary key instead of the filters again. Not when a filter joined a
                # to-many relation: without its condition, that join repeats each row
                # once per related row (a partner once per organization)
                rows.query.where = WhereNode()
            rows = rows.filter(pk__in=ids)
            object_list = sorted(rows, key=lambda row: position[row.pk])
        return super()._get_page(object_list, number, paginator)

    @property
    def capped(self) -> bool:
        """Whether there are more rows than were counted."""
        return self.count > getattr(self, "counted_up_to", math.inf)

    @property
    def shown_count(self) -> int:
        """The rows counted: exact unless ``capped`` (then "at least this many")."""
        return self.counted_up_to if self.capped else self.count


def _joins_many(query) -> bool:
    """Whether the query joins a to-many relation (a reverse foreign key or a
    many-to-many), which can repeat a row once per related row."""
    return any(
        isinstance(join, Join)
        and query.alias_refcount[alias]
        and isinstance(join.join_field, ForeignObjectRel)
        and join.join_field.multiple
        for alias, join in query.alias_map.items()
    )


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    django_paginator_class = CappedPaginator
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = None
        if size is None or not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    "page_size": [
                        _("Enter a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return size

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, 1)
        if raw in self.last_page_strings:
            paginator.limit = None  # the last page needs the full count
            return paginator.num_pages
        try:
            number = int(raw)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise ValidationError({"page": [_("Enter a whole number from 1.")]})
        return number

    def get_paginated_response(self, data):
        paginator = self.page.paginator
        return Response(
            {
                "count": paginator.shown_count,
                "count_capped": paginator.capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"]["description"] = gettext(
            "Rows selected, counted up to %(limit)s (or to the end of the page asked for); "
            "with more, this number and `count_capped` true."
        ) % {"limit": number_format(COUNT_LIMIT, force_grouping=True)}
        response["properties"]["count_capped"] = {
            "type": "boolean",
            "description": gettext("True when more rows exist than `count` says."),
        }
        response["required"] = [*response["required"], "count_capped"]
        return response

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
