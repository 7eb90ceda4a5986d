# An inbox item's sent_at is its notice's decided_at: the notifier writes both with the
# same time in one transaction (worker._deliveries), and the inbox is now ordered by the
# item's own sent_at (0007's index) instead of through a join to the notice. Rows that
# say otherwise (none are written so; a hand-made one) are made so, once; the reverse
# has nothing to undo.

from django.db import migrations
from django.db.models import F, OuterRef, Q, Subquery


def sent_when_decided(apps, schema_editor):
    Delivery = apps.get_model("notifications", "Delivery")
    Notice = apps.get_model("notifications", "Notice")
    decided = Subquery(Notice.objects.filter(pk=OuterRef("notice_id")).values("decided_at")[:1])
    items = Delivery.objects.filter(channel="inbox").alias(decided=decided)
    items.filter(Q(sent_at__isnull=True) | ~Q(sent_at=F("decided"))).update(sent_at=decided)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_notice_decided_index"),
    ]

    operations = [migrations.RunPython(sent_when_decided, migrations.RunPython.noop)]
