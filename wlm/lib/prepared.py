"""Querysets compiled to SQL once and run many times: for the data plane's hot reads,
where building a queryset costs more than running it (about 5 ms against 0.1 ms).

The query stays written once, with the ORM; only the compilation is kept. The value of
one parameter (a location, a license) changes from call to call: the queryset is built
with a marker value and the marker's place among the compiled parameters is filled with
each call's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Field, QuerySet


class PreparedQuery:
    def __init__(self, build: Callable[[Any], QuerySet], field: Field, marker: Any) -> None:
        """``build(value)`` is the queryset for ``value``; ``field`` prepares the value as
        the database gets it; ``marker`` is a value no other parameter of the query has."""
        self.build = build
        self.field = field
        self.marker = marker
        self._compiled: dict[str, tuple[str, list, list[int]]] = {}

    def _compile(self, using: str) -> tuple[str, list, list[int]]:
        connection = connections[using]
        queryset = self.build(self.marker).using(using)
        sql, params = queryset.query.get_compiler(using).as_sql()
        prepared = self.field.get_db_prep_value(self.marker, connection)
        slots = [index for index, param in enumerate(params) if param == prepared]
        if not slots:
            raise ValueError(f"the marker {self.marker!r} is not among the query's parameters")
        return sql, list(params), slots

    def rows(self, value: Any, using: str = "default") -> list[tuple]:
        """The rows of ``build(value)`` as the database returns them (no ORM converters:
        a date is a string on SQLite)."""
        compiled = self._compiled.get(using)
        if compiled is None:
            compiled = self._compiled[using] = self._compile(using)
        sql, params, slots = compiled
        connection = connections[using]
        params = list(params)
        prepared = self.field.get_db_prep_value(value, connection)
        for slot in slots:
            params[slot] = prepared
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
