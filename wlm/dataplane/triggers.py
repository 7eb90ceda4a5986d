"""Database triggers that write a ``Change`` row whenever a row an entitlement depends on
is written: a license, its modules, an assignment, a location's stored license, an access
point, a room, a location.

Triggers, not signals: a bulk ``update()``, a raw statement or the admin is logged as
surely as a service, in the writer's own transaction. They are installed after every
``migrate`` (``post_migrate``, idempotent): SQLite drops a table's triggers when a
migration rebuilds the table, and the next ``migrate`` puts them back. A test checks
that every one is there on both databases.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

OPERATIONS = ("INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class Watched:
    table: str
    license_column: str | None  # the license the row names, if any
    location_column: str | None  # the location the row names, if any
    operations: tuple[str, ...] = OPERATIONS


WATCHED = (
    Watched("licenses_license", "id", "location_id"),  # location: the intended one
    Watched("licenses_license_modules", "license_id", None),
    Watched("licenses_assignment", "license_id", "location_id"),
    Watched("licenses_currentlicense", None, "location_id"),  # the license the facts read
    Watched("locations_accesspoint", None, "location_id"),
    Watched("locations_room", None, "location_id"),
    Watched("locations_location", None, "id", ("DELETE",)),
)
CHANGE_TABLE = "dataplane_change"


def trigger_name(watched: Watched, operation: str) -> str:
    return f"dataplane_{watched.table}_{operation.lower()}"


def _sqlite(watched: Watched, operation: str) -> str:
    rows = {"INSERT": ("NEW",), "UPDATE": ("NEW", "OLD"), "DELETE": ("OLD",)}[operation]
    inserts = "".join(
        f"INSERT INTO {CHANGE_TABLE} (license_id, location_id, xid, at) VALUES ("  # noqa: S608
        f"{f'{row}.{watched.license_column}' if watched.license_column else 'NULL'}, "
        f"{f'{row}.{watched.location_column}' if watched.location_column else 'NULL'}, "
        "0, strftime('%Y-%m-%d %H:%M:%f', 'now')); "
        for row in rows
    )
    return (
        f"CREATE TRIGGER IF NOT EXISTS {trigger_name(watched, operation)} "
        f"AFTER {operation} ON {watched.table} FOR EACH ROW BEGIN {inserts}END"
    )


# One PostgreSQL function for every table: the columns come as the trigger's arguments.
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION dataplane_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  written jsonb;
BEGIN
  FOREACH written IN ARRAY CASE TG_OP
      WHEN 'INSERT' THEN ARRAY[to_jsonb(NEW)]
      WHEN 'UPDATE' THEN ARRAY[to_jsonb(NEW), to_jsonb(OLD)]
      ELSE ARRAY[to_jsonb(OLD)] END
  LOOP
    INSERT INTO dataplane_change (license_id, location_id, xid, at)
    VALUES ((written ->> TG_ARGV[0])::bigint, (written ->> TG_ARGV[1])::uuid,
            pg_current_xact_id()::text::bigint, clock_timestamp());
  END LOOP;
  RETURN NULL;
END $$;
"""


def _postgres(watched: Watched, operation: str) -> str:
    # a column name that no row has gives NULL (``->>`` of a missing key)
    license_column = watched.license_column or "-"
    location_column = watched.location_column or "-"
    return (
        f"CREATE OR REPLACE TRIGGER {trigger_name(watched, operation)} "
        f"AFTER {operation} ON {watched.table} FOR EACH ROW "
        f"EXECUTE FUNCTION dataplane_log_change('{license_column}', '{location_column}')"
    )


def statements(vendor: str) -> list[str]:
    """The idempotent statements that install every trigger on ``vendor``'s database."""
    build = {"sqlite": _sqlite, "postgresql": _postgres}[vendor]
    found = [build(w, operation) for w in WATCHED for operation in w.operations]
    return [POSTGRES_FUNCTION, *found] if vendor == "postgresql" else found


def expected() -> set[str]:
    return {trigger_name(w, operation) for w in WATCHED for operation in w.operations}


def installed(connection) -> set[str]:
    """The names of this module's triggers present in ``connection``'s database."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {name for (name,) in cursor.fetchall()} & expected()


def install(using: str = "default") -> None:
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        for statement in statements(connection.vendor):
            cursor.execute(statement)


def uninstall(using: str = "default") -> None:
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        for watched in WATCHED:
            for operation in watched.operations:
                on = "" if connection.vendor == "sqlite" else f" ON {watched.table}"
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger_name(watched, operation)}{on}")


@contextmanager
def paused(using: str = "default"):
    """No change rows while a bulk load writes rows no process has read (``generate_load``
    into an empty database): two million trigger calls saved."""
    uninstall(using)
    try:
        yield
    finally:
        install(using)


def install_after_migrate(sender, using="default", plan=None, **kwargs) -> None:
    """``post_migrate`` receiver: once the tables exist (not after a ``migrate`` that
    unapplied them)."""
    from django.db import connections

    tables = set(connections[using].introspection.table_names())
    if CHANGE_TABLE in tables and all(w.table in tables for w in WATCHED):
        install(using)
