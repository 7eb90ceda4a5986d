# The locations list sorts by its license's end date and filters by its status and end
# date (docs/performance.md): CurrentLicense copies both from the license (written by
# wlm.licenses.current with the row, rewritten by apply_change when they change), and
# PostgreSQL indexes them with the location's id, in the list's orders (empty last both
# ways, ties by id). The indexes are PostgreSQL only and have no model state (as 0010),
# built CONCURRENTLY (writes go on meanwhile), so the migration is not atomic; the
# copies are filled in one transaction of their own.

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

from wlm.lib.migrations import RunSQLOnPostgreSQL

INDEXES = {
    # by end date, up and down (the list sorted by license end)
    "current_license_end_asc_idx": "(end_date ASC NULLS LAST, location_id)",
    "current_license_end_desc_idx": "(end_date DESC NULLS LAST, location_id)",
    # one status (a filter), by end date
    "current_license_status_idx": "(status, end_date, location_id)",
}


def fill(apps, schema_editor):
    """Each row's copies of its license's status and end date (NULL without one)."""
    CurrentLicense = apps.get_model("licenses", "CurrentLicense")
    License = apps.get_model("licenses", "License")
    license = License.objects.filter(pk=OuterRef("license_id"))
    CurrentLicense.objects.using(schema_editor.connection.alias).update(
        status=Subquery(license.values("status")[:1]),
        end_date=Subquery(license.values("end_date")[:1]),
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("licenses", "0010_sort_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="currentlicense",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending_provision", "Pending Provision"),
                    ("pending_start", "Pending Start"),
                    ("in_use", "In Use"),
                    ("access_denied", "Access denied"),
                    ("contract_finalized", "Contract finalized"),
                ],
                editable=False,
                max_length=20,
                null=True,
                verbose_name="status",
            ),
        ),
        migrations.AddField(
            model_name="currentlicense",
            name="end_date",
            field=models.DateField(editable=False, null=True, verbose_name="end date"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, atomic=True, elidable=True),
        *(
            RunSQLOnPostgreSQL(
                sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON licenses_currentlicense {columns}",
                reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, columns in INDEXES.items()
        ),
    ]
