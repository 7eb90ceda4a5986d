# The licenses list read matches first (wlm/lib/plans.py; docs/performance.md, "The
# licenses list: matches first"). Two of 0010's indexes carry one more column, so that
# the list's ids are read from an index alone:
# - license_created_idx also holds ``end_date``: with many matches (a year of end dates,
#   "Ended"), the walk newest first tests the end date in the index, not in the table
#   (100,000 rows read for 1,001 matches: 170-250 ms from the table, ~10 ms now);
# - license_end_asc_idx also holds ``created``: a short range's matches ("Ending in 30
#   days"), read first from it, are sorted newest first without visiting the table.
# Each is rebuilt under another name, then takes the old one's place (writes go on
# meanwhile: CONCURRENTLY, so not atomic). PostgreSQL only, no model state (as 0010).

from django.db import migrations

from wlm.lib.migrations import RunSQLOnPostgreSQL

SCOPE = "status, distributor_id, partner_id, organization_id"
INDEXES = {
    # name: (columns now, columns before)
    "license_end_asc_idx": (
        f"(end_date ASC NULLS LAST, id) INCLUDE (created, {SCOPE})",
        f"(end_date ASC NULLS LAST, id) INCLUDE ({SCOPE})",
    ),
    "license_created_idx": (
        f"(created, id) INCLUDE (end_date, {SCOPE})",
        f"(created, id) INCLUDE ({SCOPE})",
    ),
}


def rebuild(name: str, columns: str, before: str) -> list:
    new = f"{name}_new"
    return [
        RunSQLOnPostgreSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {new} ON licenses_license {columns}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {new}",
        ),
        RunSQLOnPostgreSQL(
            sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
            f"ON licenses_license {before}",
        ),
        RunSQLOnPostgreSQL(
            sql=f"ALTER INDEX {new} RENAME TO {name}",
            reverse_sql=f"ALTER INDEX {name} RENAME TO {new}",
        ),
    ]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("licenses", "0011_current_license_facts"),
    ]

    operations = [
        operation
        for name, (columns, before) in INDEXES.items()
        for operation in rebuild(name, columns, before)
    ]
