# Indexes of the lists at scale (docs/performance.md): trigram ones on PostgreSQL only.

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from wlm.lib.migrations import AddIndexOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0002_notice_language_and_webhook_secret'),
    ]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION pg_trgm on PostgreSQL; nothing on SQLite
        AddIndexOnPostgreSQL(
            model_name='organization',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Upper(django.db.models.functions.comparison.Cast('name', models.TextField())), name='gin_trgm_ops'), name='organization_name_trgm'),
        ),
    ]
