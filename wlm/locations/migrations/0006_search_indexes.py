# q searches a location's name, address and time zone (LocationFilterSet): each column
# has its trigram index on wlm_fold, so the OR of the three (and of the matching
# organizations) is a BitmapOr of indexes instead of folding every row's three columns
# while walking the list's order (docs/performance.md). PostgreSQL only, as 0005.

import django.contrib.postgres.indexes
from django.db import migrations

import wlm.lib.search
from wlm.lib.migrations import AddIndexOnPostgreSQL


class Migration(migrations.Migration):

    dependencies = [
        ('locations', '0005_folded_search'),
    ]

    operations = [
        AddIndexOnPostgreSQL(
            model_name='location',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(wlm.lib.search.Fold('address'), name='gin_trgm_ops'), name='location_address_fold_trgm'),
        ),
        AddIndexOnPostgreSQL(
            model_name='location',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(wlm.lib.search.Fold('timezone'), name='gin_trgm_ops'), name='location_timezone_fold_trgm'),
        ),
    ]
