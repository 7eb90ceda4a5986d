"""Keeping the change log short."""

import datetime as dt

from django.db.models.functions import Now

from wlm.dataplane.models import Change

# Every server process reads the log at least every ``Entitlements.stale_after`` (60 s) or
# forgets what it holds; an hour is far beyond that.
KEEP = dt.timedelta(hours=1)


def prune_changes() -> int:
    """Delete the change rows older than ``KEEP`` (the notifier's pass); how many.

    In the database's time, as the triggers write ``at``: the log's own bookkeeping, not
    a business date (those come from ``wlm.lib.clock``)."""
    deleted, _by_model = Change.objects.filter(at__lt=Now() - KEEP).delete()
    return deleted
