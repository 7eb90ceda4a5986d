# Installation mode (docs/connections.md): while a location is in installation its
# connections do not count toward its license's start. The check constraint keeps an
# installation with an end date within 30 days of its start; SQLite adds it by
# rebuilding the table, without the PostgreSQL-only trigram indexes.

import django.db.models.lookups
import wlm.lib.durations
from django.db import migrations, models

from wlm.lib.migrations import AddConstraintBesidePostgreSQLIndexes


class Migration(migrations.Migration):

    dependencies = [
        ('locations', '0006_search_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='location',
            name='counting_since',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='connections count since'),
        ),
        migrations.AddField(
            model_name='location',
            name='installation_since',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='in installation since'),
        ),
        migrations.AddField(
            model_name='location',
            name='installation_until',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='in installation until'),
        ),
        AddConstraintBesidePostgreSQLIndexes(
            model_name='location',
            constraint=models.CheckConstraint(condition=models.Q(('installation_until__isnull', True), models.Q(django.db.models.lookups.LessThanOrEqual(wlm.lib.durations.SecondsBetween('installation_since', 'installation_until'), 2592000.001), ('installation_since__isnull', False), ('installation_until__gt', models.F('installation_since'))), _connector='OR'), name='location_installation_at_most_30_days'),
        ),
    ]
