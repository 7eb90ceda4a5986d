"""``?format=csv``: the filtered rows of a list, every page, streamed as CSV."""

import csv
import json

from django.http import StreamingHttpResponse
from rest_framework import mixins
from rest_framework.renderers import BaseRenderer

CSV_CHUNK = 1000


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


def _safe(text: str) -> str:
    # Spreadsheet formula injection: a cell that starts with =, +, - or @ is quoted.
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


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
        yield writer.writerow([_safe(_cell(record.get(key))) for key in header])


class ListModelMixin(mixins.ListModelMixin):
    """DRF's list, plus ``?format=csv`` streams all filtered rows, not one page."""

    csv_filename = "export"

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) != "csv":
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset())
        fields = list(self.get_serializer().fields.keys())

        def records():
            batch = []
            for row in queryset.iterator(chunk_size=CSV_CHUNK):
                batch.append(row)
                if len(batch) == CSV_CHUNK:
                    yield from self.get_serializer(batch, many=True).data
                    batch = []
            if batch:
                yield from self.get_serializer(batch, many=True).data

        def body():
            emitted = False
            for line in _rows(records()):
                emitted = True
                yield line
            if not emitted:
                yield csv.writer(_Echo()).writerow(fields)

        response = StreamingHttpResponse(body(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}.csv"'
        return response
