# The throttles' cache table (settings.CACHES), so that `migrate` is the whole setup.

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    """Django's `createcachetable` for the database caches of the settings; it skips a
    table that exists (a database set up when `make run` still made it)."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0005_one_line_names'),
    ]

    operations = [
        # reversed: nothing (the table is not a model's; `migrate tenancy zero` leaves it)
        migrations.RunPython(create_cache_tables, migrations.RunPython.noop),
    ]
