"""The daily aggregates by day, for the retention's oldest-first batches (wlm.retention).

Built CONCURRENTLY on PostgreSQL: the intake writes on while it is built (safe while old
nodes run; docs/operations.md, "Upgrades"), so the migration is not atomic."""

from django.db import migrations, models

from wlm.lib.migrations import AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("connections", "0003_alter_intakekey_options_alter_locationday_options_and_more"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="locationday",
            index=models.Index(fields=["day"], name="location_day_day_idx"),
        ),
    ]
