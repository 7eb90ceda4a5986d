# q ignores accents and case (wlm/lib/search.py, docs/i18n.md): the wlm_fold function on
# PostgreSQL (SQLite registers it per connection), and the organizations' name index on it.

import django.contrib.postgres.indexes
from django.db import migrations

import wlm.lib.search
from wlm.lib.migrations import AddIndexOnPostgreSQL, RemoveIndexOnPostgreSQL, RunSQLOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0006_cache_table'),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            wlm.lib.search.POSTGRESQL_FUNCTION,
            reverse_sql="DROP FUNCTION IF EXISTS wlm_fold(text);",
        ),
        RemoveIndexOnPostgreSQL(
            model_name='organization',
            name='organization_name_trgm',
        ),
        AddIndexOnPostgreSQL(
            model_name='organization',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(wlm.lib.search.Fold('name'), name='gin_trgm_ops'), name='organization_name_fold_trgm'),
        ),
    ]
