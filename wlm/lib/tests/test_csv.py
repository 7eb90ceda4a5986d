"""How a ``values()`` export reads its rows (wlm/lib/csv.py, ``reading``): on PostgreSQL
in a transaction of its own, where its rows come from one statement streamed and its
settings are ``LOCAL`` (what PgBouncer in transaction mode needs), a uuid read as its text and a
moment as the server's text in UTC, rewritten as the JSON rows write it; and, finished or
stopped midway (a client that goes away), the connection as it was before: no transaction
left open, the default settings, Django's loaders."""

import csv
import datetime as dt
import io
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wlm.lib import csv as lib_csv
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.queries import LICENSE_CSV
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Location

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="its cursors")
autocommit = pytest.mark.django_db(transaction=True)  # as a request streams
MOMENTS = [
    dt.datetime(2026, 12, 4, 7, 40, 6, 825586, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 4, 7, 40, 6, 825500, tzinfo=dt.UTC),  # PostgreSQL: .8255
    dt.datetime(2026, 12, 4, 7, 40, 6, 500000, tzinfo=dt.UTC),  # .5
    dt.datetime(2026, 12, 4, 7, 40, 6, 120, tzinfo=dt.UTC),  # .00012
    dt.datetime(2026, 12, 4, 7, 40, 6, tzinfo=dt.UTC),  # no fraction
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
]


def _setting(name: str = "cursor_tuple_fraction") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def _loaders() -> tuple:
    from psycopg.pq import Format

    adapters = connection.connection.adapters
    return tuple(
        adapters.get_loader(adapters.types[name].oid, Format.TEXT)
        for name in ("timestamptz", "uuid")
    )


@pytest.fixture
def licenses(world, monkeypatch):
    monkeypatch.setattr(lib_csv, "CSV_CHUNK", 1)  # a chunk per license
    for _ in range(3):
        make_license(world, LicenseStatus.IN_USE)
    connection.ensure_connection()
    return License.objects.order_by("pk")


def _as_before(loaders) -> None:
    assert not connection.in_atomic_block
    assert connection.connection.info.transaction_status == 0  # IDLE: none left open
    assert _setting() == "0.1"  # PostgreSQL's defaults
    assert _setting("work_mem") == "4MB"
    assert _loaders() == loaders
    location, created = Location.objects.values_list("pk", "created").first()
    assert isinstance(location, uuid.UUID) and created.tzinfo is not None


def _postgresql_text(moment: dt.datetime) -> str:
    """``moment`` as PostgreSQL writes it in UTC: its fraction without trailing zeros."""
    text = moment.isoformat(sep=" ", timespec="seconds")[:19]
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "+00"


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_moment_as_postgresqls_text_is_written_as_the_json_writes_it(moment):
    text = _postgresql_text(moment)
    drf = moment.isoformat()[:-6] + "Z"
    assert lib_csv._iso_from_text(text) == drf
    assert lib_csv.DateTime("at").writer()(text) == drf


@pytest.mark.django_db
def test_every_moment_of_the_export_is_the_json_rows(world, api):
    for moment in MOMENTS[:-1]:
        license = make_license(world, LicenseStatus.IN_USE)
        License.objects.filter(pk=license.pk).update(created=moment, provisioned=moment)
    client = api(world.staff)
    text = b"".join(client.get("/api/v1/licenses/", {"format": "csv"}).streaming_content)
    exported = {row["id"]: row for row in csv.DictReader(io.StringIO(text.decode()))}
    listed = client.get("/api/v1/licenses/").json()["results"]
    assert len(listed) == len(exported) == len(MOMENTS) - 1
    for row in listed:
        assert exported[str(row["id"])]["created"] == row["created"]
        assert exported[str(row["id"])]["provisioned"] == row["provisioned"]


@on_postgresql
@pytest.mark.postgres_only  # a server-side cursor, in a transaction (PgBouncer's way)
@autocommit
def test_an_export_reads_in_its_transaction_and_leaves_the_connection_as_it_was(licenses):
    loaders = _loaders()
    lines = LICENSE_CSV.lines(licenses)
    text = [next(lines)]  # the header: nothing read yet
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        text.append(next(lines))  # the first license
        assert connection.in_atomic_block
        text += list(lines)
    # planned for every row, sorted in memory; the rows streamed by one statement
    said = [query["sql"] for query in queries]
    assert said[:3] == [
        "BEGIN",
        "SET LOCAL cursor_tuple_fraction = 1.0",
        f"SET LOCAL work_mem = '{lib_csv.EXPORT_WORK_MEM}'",
    ]
    assert said[3].startswith("SELECT ") and said[4:] == ["COMMIT"], said
    _as_before(loaders)
    rows = list(csv.DictReader(io.StringIO("".join(text))))
    assert [row["id"] for row in rows] == [str(pk) for pk in licenses.values_list("pk", flat=True)]
    # the driver's loaders write what Django's values would: ids and moments as the JSON
    assert all(row["location"] == str(licenses[0].location_id) for row in rows)
    assert all(row["created"].endswith("Z") and "T" in row["created"] for row in rows)


@on_postgresql
@pytest.mark.postgres_only
@autocommit
def test_an_export_stopped_midway_leaves_the_connection_as_it_was(licenses):
    loaders = _loaders()
    lines = LICENSE_CSV.lines(licenses)
    next(lines)
    next(lines)
    assert connection.in_atomic_block
    lines.close()  # the server closes the response of a client gone away
    _as_before(loaders)
