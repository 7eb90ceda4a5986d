"""``?format=csv``: the filtered rows of a list, every page, streamed as CSV.

Two writers, one answer (docs/api.md, "CSV"):

- A list that declares ``csv_export`` (an ``Export``: licenses, locations, license
  requests) is read with ``values_list()`` from the very queryset its page and its JSON
  list read (the tenancy door, the FilterSet, the ordering), in chunks of ``CSV_CHUNK``
  rows, and written by ``csv.writer``: no model instances, no serializer. What a row
  holds several of (a license's modules, its assigned locations) is read in the same
  query through a join and folded back into one row (``Many``). The JSON row's columns
  come first, as they were, then the names and labels.
- Any other list: its serializer's rows (lists as ``a;b;c``, objects as JSON).

Both stream (``StreamingHttpResponse``, a server-side cursor on PostgreSQL): memory
stays flat whatever the rows. Every text cell is defused against spreadsheet formulas
(``defuse``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

from django.db import connections
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework import mixins
from rest_framework.renderers import BaseRenderer

CSV_CHUNK = 1000
# A cell starting with one of these is a formula to a spreadsheet (OWASP's list: the
# four formula signs, and tab and carriage return, which some programs skip first).
FORMULA_START = frozenset("=+-@\t\r")


class CSVRenderer(BaseRenderer):
    """Registers the ``csv`` format; list views stream the body themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only reached by responses that are not lists (e.g. a detail view):
        # one row with the object's fields.
        if not isinstance(data, dict):
            return b""
        return "".join(_rows([data])).encode()


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            return ";".join(str(item) for item in value)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def defuse(text: str) -> str:
    """Spreadsheet formula injection: a text cell that starts like a formula (``=``,
    ``+``, ``-``, ``@``, tab, carriage return) is prefixed with ``'``, unless it is a
    number (``-5``)."""
    if text[:1] in FORMULA_START and not _is_number(text):
        return "'" + text
    return text


_safe = defuse  # the serializer writer's name for it


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(records):
    writer = csv.writer(_Echo())
    header = None
    for record in records:
        if header is None:
            header = list(record.keys())
            yield writer.writerow(header)
        yield writer.writerow([defuse(_cell(record.get(key))) for key in header])


# --- The values() writer -----------------------------------------------------------


class Column:
    """One CSV column: ``source`` (a field, a ``__`` path or an annotation of the list's
    queryset; the header by default) read with ``values_list``, written as it comes
    (numbers, ISO dates, ids; text defused) or through ``write``. A tuple of sources
    hands ``write`` a tuple of their values."""

    def __init__(
        self,
        header: str,
        source: str | tuple[str, ...] | None = None,
        write: Callable | None = None,
    ):
        self.header = header
        self.source = source or header
        self.write = write

    def writer(self) -> Callable | None:
        """``write`` as this export calls it, made when an export starts (``Label``
        translates its labels then, ``DateTime`` reads the time zone)."""
        return self.write


class DateTime(Column):
    """A moment as the JSON rows write it (DRF): ISO 8601 in the current time zone,
    ``Z`` for UTC."""

    def writer(self) -> Callable:
        zone = timezone.get_current_timezone()

        def write(value):
            if value is None:
                return None
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return write


class Label(Column):
    """The label of a choice (``status`` → "In Use"), in the reader's language."""

    def __init__(self, header: str, source: str, choices: Iterable[tuple[str, str]]):
        super().__init__(header, source)
        self.choices = choices

    def writer(self) -> Callable:
        labels = {value: str(label) for value, label in self.choices}  # translated now
        return labels.get


class Related:
    """A to-many relation of the rows (a license's assigned locations, its modules), read
    in the export's one query through a join: ``key`` (a source) tells its related rows
    apart, ``order`` sorts them. The join repeats a row once per related row (the
    product of two relations: once per pair); ``Export`` folds each row's repeats back
    into one CSV row."""

    def __init__(self, key: str, order: Sequence[str] = ()):
        self.key = key
        self.order = tuple(order) or (key,)


class Many(Column):
    """Several values of one row, ``a;b;c`` in their relation's order: ``source`` read
    through the join of ``related`` (e.g. ``assignments__location__name``)."""

    def __init__(self, header: str, related: Related, source: str | None = None):
        super().__init__(header, source)
        self.related = related


def joined(values: Iterable) -> str:
    """Several values in one cell: ``a;b;c`` (as the JSON rows' lists are written)."""
    return ";".join(str(value) for value in values)


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _folded(rows: Iterator, pk: int, relations: list[tuple[int, list[int]]]) -> Iterator:
    """Each row once, its ``Many`` columns joined (``relations``: per relation, the
    position of its key and of its columns). A row's repeats are consecutive: the query
    orders by the list's order, then the primary key, then the relations."""
    if not relations:
        yield from rows
        return
    first, found = None, []
    for row in rows:
        if first is None or row[pk] != first[pk]:
            if first is not None:
                yield _fold(first, found)
            first = row
            found = [({}, columns) for _key, columns in relations]
        for (key, _columns), (seen, columns) in zip(relations, found, strict=True):
            value = row[key]
            if value is not None and value not in seen:
                seen[value] = [row[column] for column in columns]
    if first is not None:
        yield _fold(first, found)


def _fold(row, found) -> list:
    row = list(row)
    for seen, columns in found:
        for number, column in enumerate(columns):
            row[column] = joined(values[number] for values in seen.values())
    return row


def _guarded(expression: str) -> str:
    """``expression``'s value, defused when it is text that starts like a formula."""
    return f"(_defuse(_v) if (_v := {expression}).__class__ is str and _v[:1] in _FORMULA else _v)"


class Export:
    """A list's CSV columns, in order (``Column``, ``DateTime``, ``Label``, ``Many``).

    One query reads every column, the to-many ones through joins; its rows come through
    a server-side cursor, planned for reading them all (``cursor_tuple_fraction``).
    Each row's cells are made by one function written for the export when it starts
    (``make``): the columns' positions and writers are bound once, not looked up for
    every cell."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = list(columns)

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]

    def lines(self, queryset) -> Iterator[str]:
        """The CSV text of ``queryset``'s rows (its filters and order as they are): the
        header, then one string per chunk of rows. The writers are made now (labels in
        the request's language), not when the server reads the stream."""
        sources: list[str] = []

        def position(source: str) -> int:
            if source not in sources:
                sources.append(source)
            return sources.index(source)

        names: dict = {"_defuse": defuse, "_FORMULA": FORMULA_START}
        cells = []
        relations: dict[Related, list[int]] = {}
        for number, column in enumerate(self.columns):
            write = column.writer()
            if isinstance(column.source, tuple):
                value = "(" + "".join(f"row[{position(s)}], " for s in column.source) + ")"
            else:
                value = f"row[{position(column.source)}]"
            if isinstance(column, Many):
                relations.setdefault(column.related, []).append(position(column.source))
            if write is None:
                expression = value
            else:
                names[f"_w{number}"] = write
                expression = f"_w{number}({value})"
            cells.append(_guarded(expression))
        source = "def make(row):\n    return [" + ", ".join(cells) + "]\n"
        exec(compile(source, "<csv export>", "exec"), names)  # noqa: S102 (our own code)
        folding = [(position(related.key), columns) for related, columns in relations.items()]
        pk = position("pk")
        order = list(queryset.query.order_by) or list(queryset.model._meta.ordering)
        if relations:  # a row's repeats next to each other, its related rows in order
            order += ["pk", *(key for related in relations for key in related.order)]
        # values_list ignores select_related; prefetches do not apply to tuples
        rows = queryset.prefetch_related(None).order_by(*order).values_list(*sources)
        return self._lines(rows, self.headers, names["make"], pk, folding)

    @staticmethod
    def _lines(rows, header, make, pk, folding) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield buffer.getvalue()
        with _planned_for_every_row(connections[rows.db]):
            read = _folded(rows.iterator(chunk_size=CSV_CHUNK), pk, folding)
            for chunk in _chunks(read, CSV_CHUNK):
                buffer.seek(0)
                buffer.truncate()
                writer.writerows([make(row) for row in chunk])
                yield buffer.getvalue()


@contextmanager
def _planned_for_every_row(connection):
    """PostgreSQL plans a cursor's query for its first 10% of rows by default
    (``cursor_tuple_fraction``): nested loops and index walks, 2 to 3 times slower than the
    hash joins that read every row, which an export does."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


class ListModelMixin(mixins.ListModelMixin):
    """DRF's list, plus ``?format=csv`` streams all filtered rows, not one page: from
    ``csv_export`` (an ``Export``, or a method answering one) when the list declares it,
    else from its serializer."""

    csv_filename = "export"
    csv_export: Export | None = None

    def get_csv_export(self) -> Export | None:
        return self.csv_export

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) != "csv":
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset())
        export = self.get_csv_export()
        if export is not None:
            return csv_response(export.lines(queryset), self.csv_filename)
        fields = list(self.get_serializer().fields.keys())

        def records():
            for batch in _chunks(queryset.iterator(chunk_size=CSV_CHUNK), CSV_CHUNK):
                yield from self.get_serializer(batch, many=True).data

        def body():
            emitted = False
            for line in _rows(records()):
                emitted = True
                yield line
            if not emitted:
                yield csv.writer(_Echo()).writerow(fields)

        return csv_response(body(), self.csv_filename)
