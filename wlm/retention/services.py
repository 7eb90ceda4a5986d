"""Retention: what grows with time is deleted once it is past its keeping
(docs/operations.md, "Retention and sizes").

The notifier calls ``enforce`` after each pass. Each kind deletes its oldest rows first,
by primary key, in batches of ``RETENTION_BATCH_SIZE`` rows — each batch a short
transaction of its own whose rows are locked with ``SKIP LOCKED``, so that two notifiers
take different rows and nothing waits long on a lock — and at most ``RETENTION_BATCHES``
batches of a kind per pass: a backlog (the first pass over an old database) is worked off
over several passes instead of in one long one.

What is kept (the settings in wlm/settings.py; days 0: forever):

- daily connection aggregates: ``RETENTION_CONNECTIONS_DAYS`` (400) local days;
- devices of licenses waiting to start: not here. They decide the start date (the
  fifth earliest device's day), so they stay whatever their age while the license waits
  (Pending Start, or denied from it: a restore makes it Pending Start again); a license
  keeps fewer than ``LICENSE_START_DEVICES`` of them, and the intake deletes them when it
  starts the license (or finds it started or ended meanwhile);
- the intake's idempotency keys: ``RETENTION_IDEMPOTENCY_HOURS`` (24), their replay
  window;
- the data plane's change log: an hour (``wlm.dataplane.services.KEEP``), in the
  database's time;
- decided notices, their deliveries and attempts: ``RETENTION_NOTICES_DAYS`` (365) from
  the decision; a scheduled notice and a delivery still pending are never deleted. Nothing
  writes a deleted notice again: a cycle's notices are written only when the license gets
  a new end date (``notifications.cycle.plan``), always later than the deleted ones';
- the audit log: ``RETENTION_AUDIT_DAYS`` (730), through the log's own door
  (``audit.services.expire``: the append-only trigger lets only that through);
- finished bulk jobs and their items: ``RETENTION_BULK_JOBS_DAYS`` (90) from the end;
- expired sessions (Django's ``clearsessions``, in batches).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now

from wlm.audit import services as audit
from wlm.connections.models import IntakeKey, LocationDay
from wlm.connections.services import key_lifetime
from wlm.dataplane.models import Change
from wlm.dataplane.services import KEEP as CHANGES_KEPT
from wlm.lib import clock
from wlm.licenses.models import BulkJob, BulkJobItem, BulkJobState
from wlm.notifications.models import Attempt, Delivery, DeliveryState, Notice, NoticeState

log = logging.getLogger("wlm.retention")


def _days(setting: str, now: dt.datetime) -> dt.datetime | None:
    """The moment before which a kind kept ``setting`` days is past; None: kept forever."""
    days = getattr(settings, setting)
    return now - dt.timedelta(days=days) if days else None


def _oldest(queryset: models.QuerySet, limit: int, *order: str) -> list:
    """The primary keys of up to ``limit`` rows of ``queryset``, oldest first, locked for
    this transaction; rows another notifier holds are skipped."""
    return list(
        queryset.order_by(*order, "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:limit]
    )


def _delete(model: type[models.Model], **where) -> int:
    """One ``DELETE … WHERE`` (by primary key or foreign key): no collector loading the
    rows first, no signals; the caller deletes the children first."""
    return models.QuerySet(model=model).filter(**where)._raw_delete(connection.alias)


def _batch(queryset: models.QuerySet, limit: int, *order: str) -> int:
    """Delete up to ``limit`` of ``queryset``'s rows, oldest first, in one transaction."""
    with transaction.atomic():
        ids = _oldest(queryset, limit, *order)
        return _delete(queryset.model, pk__in=ids) if ids else 0


def connection_days(now: dt.datetime, limit: int) -> int:
    before = _days("RETENTION_CONNECTIONS_DAYS", now)
    if before is None:
        return 0
    return _batch(LocationDay.objects.filter(day__lt=before.date()), limit, "day")


def intake_keys(now: dt.datetime, limit: int) -> int:
    return _batch(IntakeKey.objects.filter(created__lte=now - key_lifetime()), limit, "created")


def change_log(now: dt.datetime, limit: int) -> int:
    return _batch(Change.objects.filter(at__lt=Now() - CHANGES_KEPT), limit)


def deliveries(now: dt.datetime, limit: int) -> int:
    """Deliveries of notices decided before the horizon, with their attempts (at most
    ``NOTICE_MAX_ATTEMPTS`` each); never one still pending."""
    before = _days("RETENTION_NOTICES_DAYS", now)
    if before is None:
        return 0
    old = Delivery.objects.filter(notice__decided_at__lt=before).exclude(
        state=DeliveryState.PENDING
    )
    with transaction.atomic():
        ids = _oldest(old, limit)
        if not ids:
            return 0
        _delete(Attempt, delivery_id__in=ids)
        return _delete(Delivery, pk__in=ids)


def notices(now: dt.datetime, limit: int) -> int:
    """Notices decided before the horizon whose deliveries are gone (``deliveries`` runs
    first); a scheduled notice is never deleted."""
    before = _days("RETENTION_NOTICES_DAYS", now)
    if before is None:
        return 0
    old = Notice.objects.filter(
        decided_at__lt=before, state__in=(NoticeState.SENT, NoticeState.SKIPPED)
    ).exclude(Exists(Delivery.objects.filter(notice=OuterRef("pk"))))
    return _batch(old, limit, "decided_at")


def audit_entries(now: dt.datetime, limit: int) -> int:
    before = _days("RETENTION_AUDIT_DAYS", now)
    return audit.expire(before, limit) if before is not None else 0


def bulk_job_items(now: dt.datetime, limit: int) -> int:
    before = _days("RETENTION_BULK_JOBS_DAYS", now)
    if before is None:
        return 0
    old = BulkJobItem.objects.filter(job__state=BulkJobState.FINISHED, job__finished__lt=before)
    return _batch(old, limit)


def bulk_jobs(now: dt.datetime, limit: int) -> int:
    """Finished jobs before the horizon whose items are gone (``bulk_job_items`` first)."""
    before = _days("RETENTION_BULK_JOBS_DAYS", now)
    if before is None:
        return 0
    old = BulkJob.objects.filter(state=BulkJobState.FINISHED, finished__lt=before).exclude(
        Exists(BulkJobItem.objects.filter(job=OuterRef("pk")))
    )
    return _batch(old, limit, "finished")


def expired_sessions(now: dt.datetime, limit: int) -> int:
    return _batch(Session.objects.filter(expire_date__lt=now), limit, "expire_date")


@dataclass(frozen=True)
class Kind:
    name: str
    delete: Callable[[dt.datetime, int], int]  # (now, batch size) -> rows deleted


# children before their parents: a parent goes once its children are gone
KINDS = (
    Kind("connection days", connection_days),
    Kind("idempotency keys", intake_keys),
    Kind("change log", change_log),
    Kind("deliveries", deliveries),
    Kind("notices", notices),
    Kind("audit entries", audit_entries),
    Kind("bulk job items", bulk_job_items),
    Kind("bulk jobs", bulk_jobs),
    Kind("expired sessions", expired_sessions),
)


def enforce(stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Up to ``RETENTION_BATCHES`` batches of each kind; the rows deleted by kind (kinds
    that deleted none left out). ``stop`` is asked between batches (the notifier's
    SIGTERM). A kind that used every batch may have more: it goes on at the next pass,
    and a warning says so (a lasting one asks for more ``RETENTION_BATCHES``)."""
    now = clock.now()
    size, batches = settings.RETENTION_BATCH_SIZE, settings.RETENTION_BATCHES
    deleted: dict[str, int] = {}
    for kind in KINDS:
        for _batch_number in range(batches):
            if stop():
                return deleted
            count = kind.delete(now, size)
            if count:
                deleted[kind.name] = deleted.get(kind.name, 0) + count
            if count < size:
                break
        else:
            log.warning(
                "retention: %s left for the next pass (%d deleted: RETENTION_BATCHES "
                "times RETENTION_BATCH_SIZE)",
                kind.name,
                deleted[kind.name],
            )
    return deleted
