"""Matches first, then the order: the ids of a filtered list's page 1 read from the
filters' own indexes when they select few rows (docs/performance.md, "Matches first").

The capped count (``CappedPaginator``) reads the ids of the matching rows in the list's
order, up to 1,001. Given ``ORDER BY created DESC … LIMIT 1001``, PostgreSQL walks the
order's index and tests each row against the filters, expecting the matches to be spread
evenly along it. They are not: an end-date range or a ``q`` picks rows created together,
so the walk reads 100,000 to 300,000 rows for 1,001 matches. When the planner estimates that
the filters select at most ``MATCHES_FIRST_UP_TO`` rows, the ids are read as

    SELECT pk FROM (<the filtered rows: pk and the order's columns> OFFSET 0) AS matches
    ORDER BY <the order> LIMIT n

``OFFSET 0`` keeps the subquery apart (PostgreSQL does not merge it into the outer query),
so its rows come from the filters' indexes (the trigram indexes, the end date's) without
an order to keep, and only they are sorted: the cost follows the matches, not the table.
With more matches, the walk finds 1,001 of them soon: the plain query is kept. Same rows,
same order: the subquery is the plain query's ``WHERE`` and the outer ``ORDER BY`` its
terms, on the same values (a ``values_list`` of the same queryset).
"""

from __future__ import annotations

import json

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connections
from django.db.models import F, OrderBy

from wlm.lib.pagination import CappedPaginator, PageNumberPagination

# Planner's estimate of the matching rows up to which they are read first. Matches read
# from the table cost ~2 µs each (80,000 licenses in use: 110-155 ms, where the walk reads
# the index alone in 6-12 ms); ``q`` at 1,000,000 licenses selects ~11,000.
MATCHES_FIRST_UP_TO = 20_000

_PK = "wlm_plan_pk"


def _terms(queryset) -> list[tuple] | None:
    """The queryset's order as (expression, descending, nulls_first, nulls_last), or None
    when it cannot be restated on the subquery's columns (then the plain query runs)."""
    query = queryset.query
    ordering = query.order_by or (query.default_ordering and query.get_meta().ordering) or ()
    terms = []
    for term in ordering:
        if isinstance(term, str):
            if term == "?" or "." in term:
                return None
            name = term.lstrip("-")
            if not _plain_column(queryset, name):
                return None
            terms.append((F(name), term.startswith("-"), False, False))
        elif isinstance(term, OrderBy):
            terms.append(
                (term.expression, term.descending, bool(term.nulls_first), bool(term.nulls_last))
            )
        else:
            return None
    return terms or None


def _plain_column(queryset, name: str) -> bool:
    """Whether ``order_by(name)`` sorts by that value itself: an annotation or a column
    that is not a relation (a relation sorts by its model's own ``ordering``)."""
    if name in queryset.query.annotations:
        return True
    model = queryset.model
    parts = name.split("__")
    for n, part in enumerate(parts):
        if part == "pk":
            return n == len(parts) - 1
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation:
            return n == len(parts) - 1
        if n == len(parts) - 1:
            return False
        model = field.related_model
    return False


def _estimate(cursor, sql: str, params) -> float:
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"]


def ordered_ids(queryset, limit: int) -> list:
    """The pks of ``queryset``'s first ``limit`` rows in its order: matches first when the
    planner expects few (PostgreSQL), else ``values_list("pk")[:limit]``."""
    plain = queryset.values_list("pk", flat=True)
    query = queryset.query
    if (
        connections[queryset.db].vendor != "postgresql"
        or not query.where  # nothing to match: the order's index is the way
        or query.distinct
        or query.combinator
        or query.is_sliced
        or query.group_by is not None
    ):
        return list(plain[:limit])
    terms = _terms(queryset)
    if terms is None:
        return list(plain[:limit])
    columns = {f"wlm_plan_{n}": expression for n, (expression, *_rest) in enumerate(terms)}
    inner = queryset.order_by().annotate(**{_PK: F("pk")}, **columns)
    inner = inner.values_list(_PK, *columns)
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:  # a filter no row can pass (``none()``, ``pk__in=[]``)
        return []
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if _estimate(cursor, sql, params) > MATCHES_FIRST_UP_TO:
            return list(plain[:limit])
        order = ", ".join(
            f"matches.{quote(name)}"
            + (" DESC" if descending else " ASC")
            + (" NULLS FIRST" if nulls_first else " NULLS LAST" if nulls_last else "")
            for name, (_expression, descending, nulls_first, nulls_last) in zip(
                columns, terms, strict=True
            )
        )
        # the compiled query (its values are parameters) and quoted names of our own
        select = f"SELECT matches.{quote(_PK)} FROM ({sql} OFFSET 0) AS matches"  # noqa: S608
        cursor.execute(f"{select} ORDER BY {order} LIMIT %s", (*params, limit))
        return [row[0] for row in cursor.fetchall()]


class MatchesFirstPaginator(CappedPaginator):
    """``CappedPaginator`` whose ids are read matches first when they are few
    (``ordered_ids``): a list whose filters have indexes of their own (the licenses)."""

    def read_ids(self, rows, limit: int) -> list:
        return ordered_ids(rows, limit)


class MatchesFirstPagination(PageNumberPagination):
    """The API's pagination with ``MatchesFirstPaginator``."""

    django_paginator_class = MatchesFirstPaginator
