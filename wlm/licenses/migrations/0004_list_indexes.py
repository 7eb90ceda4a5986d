# Indexes of the lists at scale (docs/performance.md): trigram ones on PostgreSQL only.

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models

from wlm.lib.migrations import AddIndexOnPostgreSQL, RunSQLOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('licenses', '0003_licenses'),
        ('locations', '0002_list_indexes'),
        ('tenancy', '0003_list_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='assignment',
            index=models.Index(fields=['location', 'created', 'license'], name='assignment_location_idx'),
        ),
        AddIndexOnPostgreSQL(
            model_name='license',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(django.db.models.functions.comparison.Cast('key', models.TextField())), name='gin_trgm_ops'), name='license_key_trgm'),
        ),
        # A location's license (the rule, licenses/current.py) and its visibility read a
        # license's status and owners by id from the index alone (an index-only scan);
        # INCLUDE columns exist on PostgreSQL only (Django's checks warn on SQLite).
        RunSQLOnPostgreSQL(
            sql=(
                "CREATE UNIQUE INDEX license_id_scope_idx ON licenses_license (id) "
                "INCLUDE (status, distributor_id, partner_id, organization_id)"
            ),
            reverse_sql="DROP INDEX IF EXISTS license_id_scope_idx",
        ),
    ]
