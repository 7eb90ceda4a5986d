# Indexes of the lists at scale (docs/performance.md): trigram ones on PostgreSQL only.

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models

from wlm.lib.migrations import AddIndexOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('locations', '0001_initial'),
        ('tenancy', '0003_list_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='location',
            index=models.Index(fields=['name', 'id'], name='location_name_idx'),
        ),
        AddIndexOnPostgreSQL(
            model_name='location',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(django.db.models.functions.comparison.Cast('name', models.TextField())), name='gin_trgm_ops'), name='location_name_trgm'),
        ),
    ]
