# q ignores accents and case (wlm/lib/search.py): the locations' name index on wlm_fold.

import django.contrib.postgres.indexes
from django.db import migrations

import wlm.lib.search
from wlm.lib.migrations import AddIndexOnPostgreSQL, RemoveIndexOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('locations', '0004_access_point_mac_platform_unique'),
        ('tenancy', '0007_folded_search'),
    ]

    operations = [
        RemoveIndexOnPostgreSQL(
            model_name='location',
            name='location_name_trgm',
        ),
        AddIndexOnPostgreSQL(
            model_name='location',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(wlm.lib.search.Fold('name'), name='gin_trgm_ops'), name='location_name_fold_trgm'),
        ),
    ]
