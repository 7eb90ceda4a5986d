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

Both stream (``StreamingHttpResponse``; on PostgreSQL the ``values()`` writer's one
statement streamed in chunks, ``fetched``, the serializer's a server-side cursor): memory
stays flat whatever the rows. The ``values()`` writer reads in a transaction of its own on
PostgreSQL (``reading``: what PgBouncer in transaction mode needs). Every text cell is
defused against spreadsheet formulas (``defuse``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from itertools import islice

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FieldError
from django.db import connections, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework import mixins
from rest_framework.renderers import BaseRenderer

CSV_CHUNK = 1000
# PostgreSQL's memory for an export's sort (``reading``): the joined rows of 100,000
# licenses (40 MB) sorted in memory, not in files (4 MB by default)
EXPORT_WORK_MEM = "64MB"
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

    # whether what ``write`` answers is never text that starts like a formula
    plain_writer = False

    def __init__(
        self,
        header: str,
        source: str | tuple[str, ...] | None = None,
        write: Callable | None = None,
    ):
        self.header = header
        self.source = header if source is None else source
        self.write = write

    def writer(self) -> Callable | None:
        """``write`` as this export calls it, made when an export starts (``Label``
        translates its labels then, ``DateTime`` reads the time zone)."""
        return self.write


class DateTime(Column):
    """A moment as the JSON rows write it (DRF): ISO 8601 in the current time zone,
    ``Z`` for UTC. On PostgreSQL an export reads it as the server's text in UTC
    (``_moments_as_text``), which in UTC is rewritten, not parsed."""

    plain_writer = True  # ISO 8601: a digit first

    def writer(self) -> Callable:
        zone = timezone.get_current_timezone()
        if getattr(zone, "key", None) == "UTC" or zone is dt.UTC:

            def in_utc(value):  # the common case: "+00:00" always, written "Z"
                if value is None:
                    return None
                if value.__class__ is str:
                    return _iso_from_text(value)
                return value.astimezone(dt.UTC).isoformat()[:-6] + "Z"

            return in_utc

        def write(value):
            if value is None:
                return None
            if value.__class__ is str:
                value = dt.datetime.fromisoformat(value)
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return write


def _iso_from_text(text: str) -> str:
    """PostgreSQL's text of a moment in UTC (``2026-12-04 07:40:06.8255+00``: its
    fraction without trailing zeros, none when it is 0) as ``isoformat`` writes it, ``Z``
    for UTC (``2026-12-04T07:40:06.825500Z``)."""
    if text[10:11] != " " or text[-3:] != "+00":  # not a moment Python can hold either
        return dt.datetime.fromisoformat(text).isoformat()[:-6] + "Z"
    if len(text) == 22:
        return f"{text[:10]}T{text[11:19]}Z"
    return f"{text[:10]}T{text[11:-3]:0<15}Z"


class Chosen(Column):
    """``source``'s value where ``kind`` (another source) is ``value``, else empty (a
    license's limit as ``aps`` or ``rooms``): compared in the row's function, not a call
    per row."""

    def __init__(self, header: str, source: str, kind: str, value):
        super().__init__(header, source)
        self.kind = kind
        self.value = value


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


def _groups(rows: Iterator, pk: int) -> Iterator[list]:
    """The rows of each primary key, together: a row's repeats (one per related row of
    its ``Many`` columns) are consecutive, the query orders by the list's order, then the
    primary key, then the relations."""
    group: list = []
    for row in rows:
        if group and row[pk] != group[0][pk]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def _folded(chunks: Iterator[list], pk: int, folding, make, make_once) -> Iterator[list]:
    """The CSV rows of ``chunks`` (the query's rows, a row's repeats consecutive), in
    pieces of ``CSV_CHUNK``: most rows come once and are made as they are (``make_once``);
    a chunk where a key repeats is grouped, its repeated rows folded (``make``). A chunk's
    last key waits for the next chunk, where its repeats may go on."""
    held: list = []  # the rows of the last key seen, perhaps not all of them
    ready: list = []  # made rows not yet handed out
    for chunk in chunks:
        if held:
            chunk = held + chunk
        last, cut = chunk[-1][pk], len(chunk) - 1
        while cut and chunk[cut - 1][pk] == last:
            cut -= 1
        held, chunk = chunk[cut:], chunk[:cut]
        ready += _made(chunk, pk, folding, make, make_once)
        while len(ready) >= CSV_CHUNK:
            yield ready[:CSV_CHUNK]
            del ready[:CSV_CHUNK]
    ready += _made(held, pk, folding, make, make_once)
    while ready:
        yield ready[:CSV_CHUNK]
        del ready[:CSV_CHUNK]


def _made(rows: list, pk: int, folding, make, make_once) -> list:
    if len({row[pk] for row in rows}) == len(rows):  # each row once: nothing to fold
        return [make_once(row) for row in rows]
    return [
        make_once(group[0]) if len(group) == 1 else make(_fold(group, folding))
        for group in _groups(iter(rows), pk)
    ]


def _fold(group: list, relations: list[tuple[int, list[int]]]) -> list:
    """A row that came several times, once, its ``Many`` columns joined (``relations``:
    per relation, the position of its key and of its columns)."""
    row = list(group[0])
    for key, columns in relations:
        seen: dict = {}
        for repeat in group:
            value = repeat[key]
            if value is not None and value not in seen:
                seen[value] = [repeat[column] for column in columns]
        for number, column in enumerate(columns):
            row[column] = joined(values[number] for values in seen.values())
    return row


# the fields whose values are never text that starts like a formula: numbers (a negative
# one stays as it is: ``defuse``), dates, moments, uuids, booleans
PLAIN_FIELDS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "DecimalField",
        "FloatField",
        "DateField",
        "DateTimeField",
        "UUIDField",
        "BooleanField",
    }
)


def _plain(queryset, source: str) -> bool:
    """Whether ``source``'s values (a field, a ``__`` path, an annotation) are never text
    that starts like a formula: its cells need no ``defuse``."""
    try:
        if source in queryset.query.annotations:
            field = queryset.query.annotations[source].output_field
        else:
            model, *path, last = [queryset.model, *source.split("__")]
            for name in path:
                model = model._meta.get_field(name).related_model
            field = model._meta.pk if last == "pk" else model._meta.get_field(last)
        while field.many_to_one or field.one_to_one:
            field = field.target_field  # a foreign key's value: the key it points at
    except (AttributeError, FieldDoesNotExist, FieldError):
        return False
    return field.get_internal_type() in PLAIN_FIELDS


def _guarded(expression: str) -> str:
    """``expression``'s value, defused when it is text that starts like a formula."""
    return f"(_defuse(_v) if (_v := {expression}).__class__ is str and _v[:1] in _FORMULA else _v)"


class Export:
    """A list's CSV columns, in order (``Column``, ``DateTime``, ``Label``, ``Many``).

    One query reads every column, the to-many ones through joins; its rows come in
    chunks of ``CSV_CHUNK`` (``fetched``), read as ``reading`` says (in a transaction,
    sorted in memory; uuids and moments as text), and go out in pieces of ``CSV_CHUNK``
    rows, not one a row. Each row's cells are made by one function written for the export
    when it starts (``make``): the columns' positions and writers are bound once, not
    looked up for every cell, and only text cells are checked for formulas (``_plain``)."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = list(columns)

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]

    def lines(self, queryset) -> Iterator[str]:
        """The CSV text of ``queryset``'s rows (its filters and order as they are): the
        header, then one string per chunk of rows. The writers are made now (labels in
        the request's language), not when the server reads the stream."""
        return self._lines(self.headers, *self._prepare(queryset))

    def rows(self, queryset):
        """The export's one query: ``queryset``'s ``values_list`` of every source, in the
        order the export reads (the benchmark's floor reads the same rows)."""
        return self._prepare(queryset)[0]

    def _prepare(self, queryset):
        as_text = {}  # on PostgreSQL, each moment's source: the moment as text
        if _moments_as_text(connections[queryset.db]):
            for column in self.columns:
                if isinstance(column, DateTime) and isinstance(column.source, str):
                    as_text[column.source] = "csv_text_" + column.source.replace("__", "_")
            text = TextField()
            queryset = queryset.annotate(
                **{alias: Cast(source, text) for source, alias in as_text.items()}
            )
        sources: list[str] = []

        def position(source: str) -> int:
            if source not in sources:
                sources.append(source)
            return sources.index(source)

        names: dict = {"_defuse": defuse, "_FORMULA": FORMULA_START}
        cells, once = [], []  # a folded row's cells; those of a row that came once
        relations: dict[Related, list[int]] = {}
        for number, column in enumerate(self.columns):
            write = column.writer()
            if isinstance(column, Chosen):
                names[f"_k{number}"] = column.value
                chosen, kind = position(column.source), position(column.kind)
                value = f"(row[{chosen}] if row[{kind}] == _k{number} else None)"
                plain = _plain(queryset, column.source)
            elif isinstance(column.source, tuple):
                value = "(" + "".join(f"row[{position(s)}], " for s in column.source) + ")"
                plain = column.plain_writer
            else:
                source = as_text.get(column.source, column.source)
                value = f"row[{position(source)}]"
                plain = column.plain_writer if write else _plain(queryset, source)
            if write is None:
                expression = value
            else:
                names[f"_w{number}"] = write
                expression = f"_w{number}({value})"
            # a number, a date, a uuid: as it is; text defused
            cells.append(expression if plain else _guarded(expression))
            if isinstance(column, Many):  # joined: its one value, if any, as text
                relations.setdefault(column.related, []).append(position(column.source))
                key = position(column.related.key)
                expression = f'("" if row[{key}] is None else str({value}))'
            once.append(expression if plain else _guarded(expression))
        source = "".join(
            f"def {name}(row):\n    return [{', '.join(made)}]\n"
            for name, made in (("make", cells), ("make_once", once))
        )
        exec(compile(source, "<csv export>", "exec"), names)  # noqa: S102 (our own code)
        folding = [(position(related.key), columns) for related, columns in relations.items()]
        pk = position("pk")
        order = list(queryset.query.order_by) or list(queryset.model._meta.ordering)
        if relations:  # a row's repeats next to each other, its related rows in order
            order += ["pk", *(key for related in relations for key in related.order)]
        # values_list ignores select_related; prefetches do not apply to tuples
        rows = queryset.prefetch_related(None).order_by(*order).values_list(*sources)
        return rows, names["make"], names["make_once"], pk, folding

    @staticmethod
    def _lines(header, rows, make, make_once, pk, folding) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield buffer.getvalue()
        # the rows closed before the transaction ends, also when the client goes away
        with reading(connections[rows.db]), closing(fetched(rows)) as read:
            if folding:
                pieces = _folded(_chunks(read, CSV_CHUNK), pk, folding, make, make_once)
            else:
                pieces = ([make(row) for row in chunk] for chunk in _chunks(read, CSV_CHUNK))
            for made in pieces:
                buffer.seek(0)
                buffer.truncate()
                writer.writerows(made)
                yield buffer.getvalue()


def fetched(rows) -> Iterator[tuple]:
    """``rows`` (a ``values_list`` queryset), read inside ``reading``. On PostgreSQL (psycopg
    3) as one statement streamed in chunks of ``CSV_CHUNK`` rows (psycopg's ``stream``),
    not a cursor declared, then fetched: PostgreSQL may use parallel workers (never for a
    cursor) and sends the next rows while these are written. Elsewhere through
    ``iterator()`` (a server-side cursor on psycopg 2). Either way the driver holds a chunk,
    not every row."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql" or not _streams(connection):
        return rows.iterator(chunk_size=CSV_CHUNK)
    return _stream(connection, rows.query.get_compiler(rows.db))


def _streams(connection) -> bool:
    """Whether the driver streams a statement's rows in chunks (psycopg 3 on libpq 17+)."""
    connection.ensure_connection()
    if not hasattr(connection.connection, "adapters"):  # psycopg 2
        return False
    from psycopg import pq

    return pq.version() >= 170000


def _stream(connection, compiler) -> Iterator[tuple]:
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # e.g. ``pk__in=[]``: Django asks nothing
        return
    with connection.cursor() as cursor:
        logged = cursor.debug_sql if hasattr(cursor, "debug_sql") else _unlogged
        with logged(sql, params, use_last_executed_query=True):
            rows = cursor.cursor.stream(sql, params, size=CSV_CHUNK)
            # Django's converters, as values_list() applies them
            yield from compiler.results_iter(results=[rows], tuple_expected=True)


@contextmanager
def _unlogged(*args, **kwargs):
    yield


@contextmanager
def reading(connection):
    """How an export reads its rows. On PostgreSQL, in a transaction of its own (or the
    one it is in), where:

    - its one statement is streamed (``fetched``), or, without psycopg 3 on libpq 17+,
      the server-side cursor of ``iterator()`` is declared ``WITHOUT HOLD``: its rows are
      made as they are fetched (a ``WITH HOLD`` cursor, Django's choice in autocommit,
      is run to the end and stored by the server when it is declared), and the
      declaration, the fetches and the settings below go to one server connection, which
      PgBouncer in transaction mode guarantees only within a transaction (keep
      ``DISABLE_SERVER_SIDE_CURSORS`` off: with it the driver would hold every row;
      ``DATABASE_POOLER=pgbouncer``'s backend, wlm.lib.pooled, declares cursors only
      inside a transaction, like this one);
    - the sort of the rows is done in memory (``SET LOCAL work_mem``: 4 MB by default,
      where 100,000 licenses and their joins spilled 35 MB to files);
    - a cursor's query is planned for reading every row (``SET LOCAL cursor_tuple_fraction``;
      PostgreSQL plans a cursor for its first 10% by default: nested loops and index
      walks, 2 to 3 times slower than the hash joins that read every row). ``LOCAL``:
      the setting ends with the transaction, so no other client of a pooled server
      connection inherits it;
    - a uuid is read as its text (``_export_loaders``)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=connection.alias, savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
            cursor.execute(f"SET LOCAL work_mem = '{EXPORT_WORK_MEM}'")
        with _export_loaders(connection.connection):
            yield


@contextmanager
def _export_loaders(pg):
    """While an export reads, ``pg`` (a psycopg connection) loads ``uuid`` as its text:
    PostgreSQL writes a uuid as ``str(UUID)`` does, which is Python (1 to 2 µs a value) where
    the text is the driver's C. Django's loader comes back after. psycopg 2 has no
    per-connection loaders: nothing changes."""
    adapters = getattr(pg, "adapters", None)
    if adapters is None:
        yield
        return
    from psycopg.pq import Format

    uuid, text = adapters.types["uuid"].oid, adapters.types["text"].oid
    before = adapters.get_loader(uuid, Format.TEXT)
    adapters.register_loader(uuid, adapters.get_loader(text, Format.TEXT))
    try:
        yield
    finally:
        adapters.register_loader(uuid, before)


def _moments_as_text(connection) -> bool:
    """Whether an export reads its moments (``DateTime``) as PostgreSQL's text: when the
    session writes them in UTC and ISO (``TimeZone``, Django's UTC with ``USE_TZ``;
    ``DateStyle``, ISO by default), ``2026-12-04 07:40:06.8255+00``. Rewriting that text
    costs a tenth of what parsing it into a ``datetime`` (Django's loader is Python) and
    formatting it again do."""
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    info = getattr(connection.connection, "info", None)
    status = getattr(info, "parameter_status", None)
    if status is None:  # psycopg 2
        return False
    return status("TimeZone") in ("UTC", "Etc/UTC") and (status("DateStyle") or "").startswith(
        "ISO"
    )


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
