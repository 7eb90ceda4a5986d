"""The demo data of ``make run`` for the browser tests: seeded once, copied back after.

``seed_demo`` writes its ~1,700 rows through the services, which took 2-4 s before every
browser test. Each test starts from the same data, so the first one seeds it into an
emptied database and copies every table aside (``snapshot_<table>``, beside the test
database's own tables: Django's flush does not know them), and the next ones empty the
tables and copy the rows back — the same rows, ids and all, one statement a table. The
sequences are then moved past the copied ids (PostgreSQL; SQLite's follow the rows).

The data plane's change log is not copied: its triggers write it again as the rows come
back, as they did while the demo was seeded. A new day seeds again (the demo's dates are
counted from today).
"""

from __future__ import annotations

import importlib
import io

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, transaction

from wlm.lib import clock

PREFIX = "snapshot_"
REWRITTEN_BY_TRIGGERS = {"dataplane_change"}
_taken: dict[str, object] = {}  # the test database's name: the day its copy was taken


def demo() -> None:
    """The tables hold exactly the demo data (and the module catalogue)."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    copied = [table for table in tables if table not in REWRITTEN_BY_TRIGGERS]
    name, today = connection.settings_dict["NAME"], clock.now().date()
    quote = connection.ops.quote_name
    if _taken.get(name) != today:
        _empty(tables)
        _seed()
        with connection.cursor() as cursor:
            for table in copied:
                copy = quote(PREFIX + table)
                cursor.execute(f"DROP TABLE IF EXISTS {copy}")
                cursor.execute(f"CREATE TABLE {copy} AS SELECT * FROM {quote(table)}")
        _taken[name] = today
        return
    with transaction.atomic():
        _empty(tables)
        with connection.cursor() as cursor:
            for table in copied:
                copy = quote(PREFIX + table)
                cursor.execute(f"INSERT INTO {quote(table)} SELECT * FROM {copy}")
            models = apps.get_models(include_auto_created=True)
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
    ContentType.objects.clear_cache()  # the copied rows' ids, not the flush's


def _empty(tables: list[str]) -> None:
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))


def _seed() -> None:
    # the module catalogue comes from a data migration, which a flush empties
    catalogue = importlib.import_module("wlm.licenses.migrations.0002_seed_modules")
    catalogue.seed(apps, None)
    call_command("seed_demo", stdout=io.StringIO())
