# The licenses list's orders at 1,000,000 licenses (docs/performance.md, "Sorting"):
# empty dates sort last both ways (``NULLS LAST``, wlm.lib.filters.ordering_terms), ties
# by id, and page 1 is read from an index in that order instead of sorting every
# visible license. The tenancy columns and the status are INCLUDEd so that a tenant's
# rows are picked from the index alone (an index-only scan). PostgreSQL only: SQLite
# has neither INCLUDE nor NULLS LAST in an index; no model state (as license_id_scope_idx).
# Built CONCURRENTLY (writes to licenses go on while they are built), so not atomic.

from django.db import migrations

from wlm.lib.migrations import RunSQLOnPostgreSQL

SCOPE = "INCLUDE (status, distributor_id, partner_id, organization_id)"
TENANTS = "INCLUDE (distributor_id, partner_id, organization_id)"
INDEXES = {
    # the default order (newest first: a backward scan)
    "license_created_idx": f"(created, id) {SCOPE}",
    # by end date, up and down, empty last
    "license_end_asc_idx": f"(end_date ASC NULLS LAST, id) {SCOPE}",
    "license_end_desc_idx": f"(end_date DESC NULLS LAST, id) {SCOPE}",
    # one status by end date, up and down (the shortcuts "In use", "Pending start"…); the
    # dashboard's figures by day read the ascending one alone (its INCLUDE)
    "license_status_end_asc_idx": f"(status, end_date ASC NULLS LAST, id) {TENANTS}",
    "license_status_end_desc_idx": f"(status, end_date DESC NULLS LAST, id) {TENANTS}",
    # by start date (less used: no INCLUDE, a tenant's rows are checked in the table)
    "license_start_asc_idx": "(start_date ASC NULLS LAST, id)",
    "license_start_desc_idx": "(start_date DESC NULLS LAST, id)",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("licenses", "0009_bulk_jobs"),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON licenses_license {columns}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, columns in INDEXES.items()
    ]
