"""Time between two datetime columns in SQL, for check constraints on SQLite and
PostgreSQL alike.

Django writes ``F("start") + timedelta`` on SQLite as a call of its own function
(``django_format_dtdelta``), which only Django's connections define: a check constraint
written so could not be satisfied from the database's own shell (``manage.py dbshell``,
a restore), where every write to the table would fail. ``SecondsBetween`` uses each
database's built-in functions instead.
"""

from __future__ import annotations

from django.db.models import FloatField, Func


class SecondsBetween(Func):
    """``end - start`` in seconds. PostgreSQL: exact (``EXTRACT(EPOCH FROM …)``). SQLite:
    from ``julianday``, which keeps whole milliseconds, as a float: compare it with a
    tolerance of a millisecond (``SLACK``)."""

    arity = 2
    output_field = FloatField()
    SLACK = 0.001

    def __init__(self, start, end, **extra):
        super().__init__(start, end, **extra)

    def as_sql(self, compiler, connection, **extra):
        # (start, end) → EXTRACT(EPOCH FROM (end - start)), an exact numeric
        start, end = (compiler.compile(expression) for expression in self.get_source_expressions())
        return f"EXTRACT(EPOCH FROM ({end[0]} - {start[0]}))", [*end[1], *start[1]]

    def as_sqlite(self, compiler, connection, **extra):
        start, end = (compiler.compile(expression) for expression in self.get_source_expressions())
        return (
            f"((julianday({end[0]}) - julianday({start[0]})) * 86400.0)",
            [*end[1], *start[1]],
        )
