# The orders of the notices list and of the inbox, read from indexes at 1,000,000
# licenses (docs/performance.md, "Pages at 1,000,000 licenses"):
# - delivery_inbox_sent_idx (user, sent_at DESC, id DESC) WHERE channel = 'inbox': a
#   user's inbox newest first, from the item's own sent_at (0006), no join to the notice;
#   it replaces delivery_inbox_idx (user, id DESC), whose order nothing reads any more;
# - notice_order_idx (due_at, number, id) INCLUDE (license_id): the notices list's
#   default order, with the license so that a tenant's notices are picked from the index
#   alone. PostgreSQL only (INCLUDE), no model state, as licenses.0010.
# Built CONCURRENTLY on PostgreSQL (the notifier writes on while they are built), so not
# atomic; SQLite builds the model's index as usual.

from django.db import migrations, models

from wlm.lib.migrations import (
    AddIndexConcurrentlyOnPostgreSQL,
    RemoveIndexConcurrentlyOnPostgreSQL,
    RunSQLOnPostgreSQL,
)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("notifications", "0006_inbox_sent_at"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("channel", "inbox")),
                fields=["user", "-sent_at", "-id"],
                name="delivery_inbox_sent_idx",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name="delivery", name="delivery_inbox_idx"),
        RunSQLOnPostgreSQL(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS notice_order_idx ON "
                "notifications_notice (due_at, number, id) INCLUDE (license_id)"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS notice_order_idx",
        ),
    ]
