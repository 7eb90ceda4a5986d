"""Notices for the licenses that had an end date before notices existed: the cycle of
each license whose renewal reminder (end date + 1 day) is still to come."""

import datetime as dt

from django.db import migrations

from wlm.lib import clock
from wlm.notifications import schedule


def plan_existing(apps, schema_editor):
    License = apps.get_model("licenses", "License")
    Notice = apps.get_model("notifications", "Notice")
    # the day before yesterday in UTC: no zone is more than a day from UTC
    horizon = clock.now().date() - dt.timedelta(days=2)
    rows = []
    for license in License.objects.filter(end_date__gte=horizon).iterator():
        for number, day in schedule.notice_days(license.end_date).items():
            rows.append(
                Notice(
                    license_id=license.pk,
                    end_date=license.end_date,
                    number=number,
                    due=day,
                    due_at=schedule.start_of_day(day, license.timezone),
                )
            )
    Notice.objects.bulk_create(rows, batch_size=5_000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(plan_existing, migrations.RunPython.noop)]
