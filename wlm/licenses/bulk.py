"""Bulk work on licenses: one lifecycle change (renew, deny, restore, cancel) asked for
many licenses at once from the licenses list or the API (docs/lifecycle.md, "Bulk
changes"; docs/pages.md, "Bulk actions").

- ``create_job`` checks the request (action, the role's right, years, reason, the
  licenses among those the user sees) and freezes it as a ``BulkJob`` with one
  ``BulkJobItem`` per license; nothing is stored when any of it is wrong.
- ``work`` applies the action to the pending items, one license per transaction,
  through the same lifecycle function as the single action, as the job's owner (its
  rights as they are when the item is worked on). The license's change, its history
  event and the item's outcome (done, or refused with the rule's message) commit
  together, so a job interrupted by a crash resumes with the items still pending: each
  license is changed exactly once. Items are claimed with ``SELECT … FOR UPDATE SKIP
  LOCKED``, so several workers share a job and never take the same item.
- The notifier calls ``work`` after each pass and while it waits
  (``manage.py notifier``); the pages run a small job at once (``INLINE_MAX``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from rest_framework.exceptions import APIException

from wlm.lib import clock
from wlm.licenses import lifecycle
from wlm.licenses.models import (
    BulkAction,
    BulkJob,
    BulkJobItem,
    BulkJobState,
    BulkOutcome,
    License,
)
from wlm.tenancy.language import language_of

log = logging.getLogger("wlm.bulk")

MAX_LICENSES = 10_000  # one job at most; "all matching" beyond it asks for narrower filters
INLINE_MAX = 10  # the pages work on a job this small at once (under a second)
REASON_MAX = 2000
_CHUNK = 900  # ids per ``IN (…)``: under SQLite's oldest variable limit

# each action: the one lifecycle function of the single action, with the job's parameters
APPLY: dict[str, Callable[[object, int, BulkJob], License]] = {
    BulkAction.RENEW: lambda user, pk, job: lifecycle.renew(user, pk, job.years, job.reason),
    BulkAction.DENY: lambda user, pk, job: lifecycle.deny(user, pk, job.reason),
    BulkAction.RESTORE: lambda user, pk, job: lifecycle.restore(user, pk, job.reason),
    BulkAction.CANCEL: lambda user, pk, job: lifecycle.cancel(user, pk, job.reason),
}
NEEDS_REASON = {BulkAction.DENY, BulkAction.CANCEL}

# "Renew 1,000 licenses by 2 years?": whole sentences, so each translates
QUESTIONS = {
    BulkAction.RENEW: (
        gettext_lazy("Renew %(count)s license by %(years)s?"),
        gettext_lazy("Renew %(count)s licenses by %(years)s?"),
    ),
    BulkAction.DENY: (
        gettext_lazy("Deny access to %(count)s license?"),
        gettext_lazy("Deny access to %(count)s licenses?"),
    ),
    BulkAction.RESTORE: (
        gettext_lazy("Restore access to %(count)s license?"),
        gettext_lazy("Restore access to %(count)s licenses?"),
    ),
    BulkAction.CANCEL: (
        gettext_lazy("Cancel %(count)s license?"),
        gettext_lazy("Cancel %(count)s licenses?"),
    ),
}


def may(user, action: str) -> bool:
    """Whether the user's role may take ``action`` in bulk: the lifecycle's own right."""
    return action in APPLY and lifecycle.may(user, action)


def offered(user) -> list[str]:
    """The bulk changes the user's role may take (the list's bulk bar)."""
    return [action for action in APPLY if lifecycle.may(user, action)]


def years_words(years: int) -> str:
    return ngettext("%(years)d year", "%(years)d years", years) % {"years": years}


def question(action: str, count: int, years: int | None = None) -> str:
    """What the confirmation asks: "Renew 1,000 licenses by 1 year?"."""
    one, many = QUESTIONS[action]
    template = one if count == 1 else many
    return str(template) % {
        "count": f"{count:,}",
        "years": years_words(years) if years else "",
    }


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def visible_ids(user, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` that ``License.objects.visible_to(user)`` holds."""
    ids = list(ids)
    seen: set[int] = set()
    for chunk in _chunks(ids):
        seen.update(
            License.objects.visible_to(user).filter(pk__in=chunk).values_list("pk", flat=True)
        )
    return seen


def create_job(
    user,
    action: str,
    license_ids: Iterable[int],
    *,
    years: int | None = None,
    reason: str = "",
    filters: str = "",
) -> BulkJob:
    """Freeze a bulk change: the job and one pending item per license. 403 for a role
    that may not take the action; 400 (``ValidationError`` per field) for an unknown
    action, bad years, a missing reason, no licenses, too many, or licenses the user
    does not see (told apart from missing ones by nothing). Nothing is stored then."""
    if action not in APPLY:
        raise ValidationError({"action": [_("Choose one of: %s.") % ", ".join(APPLY)]})
    lifecycle.require_role(user, action)
    errors: dict[str, list[str]] = {}
    if action == BulkAction.RENEW:
        if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 5:
            errors["years"] = [_("A license runs 1 to 5 years.")]
    else:
        years = None
    reason = (reason or "").strip()
    if action in NEEDS_REASON and not reason:
        errors["reason"] = [_("Say why.")]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [_("At most %(max)d characters.") % {"max": REASON_MAX}]
    ids = list(dict.fromkeys(license_ids))
    if not ids:
        errors["ids"] = [_("Select at least one license.")]
    elif len(ids) > MAX_LICENSES:
        errors["ids"] = [too_many(len(ids))]
    else:
        unknown = sorted(set(ids) - visible_ids(user, ids))
        if unknown:
            shown = ", ".join(str(pk) for pk in unknown[:10]) + (" …" if len(unknown) > 10 else "")
            errors["ids"] = [
                ngettext(
                    "%(count)d selected license does not exist or is not one you see: %(ids)s.",
                    "%(count)d selected licenses do not exist or are not ones you see: %(ids)s.",
                    len(unknown),
                )
                % {"count": len(unknown), "ids": shown}
            ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        job = BulkJob.objects.create(
            owner=user,
            action=action,
            years=years,
            reason=reason,
            filters=filters,
            total=len(ids),
            created=clock.now(),
        )
        BulkJobItem.objects.bulk_create(
            (BulkJobItem(job=job, license_id=pk) for pk in sorted(ids)), batch_size=1000
        )
    return job


def too_many(count: int) -> str:
    return _(
        "%(count)s licenses are selected; a bulk change takes at most %(max)s. Narrow the filters."
    ) % {"count": f"{count:,}", "max": f"{MAX_LICENSES:,}"}


# --- The work ------------------------------------------------------------------------


def work(
    stop: Callable[[], bool] = lambda: False,
    *,
    job_id: int | None = None,
    seconds: float | None = None,
) -> int:
    """Work on pending items — of one job, or of every job, oldest first — until none
    is left that this worker can take, ``stop()`` says so, or ``seconds`` have passed
    (asked between items, each its own transaction). Returns how many it worked on."""
    finish_complete()  # a job whose last item committed just before a crash
    deadline = None if seconds is None else time.monotonic() + seconds
    jobs: dict[int, BulkJob] = {}
    count, last = 0, None
    while not stop() and (deadline is None or time.monotonic() < deadline):
        job = _work_one(jobs, job_id)
        if job is None:
            break
        count += 1
        if last is not None and job.pk != last:
            finish_complete(last)  # oldest first: this worker took the last one it could
        last = job.pk
    if last is not None:
        finish_complete(last)
    return count


def workers() -> int:
    """How many workers a notifier puts on the bulk jobs: ``BULK_WORKERS`` on
    PostgreSQL, where ``SKIP LOCKED`` shares a job out; one on SQLite (one writer)."""
    return settings.BULK_WORKERS if connection.vendor == "postgresql" else 1


def work_together(stop: Callable[[], bool], *, seconds: float, count: int | None = None) -> int:
    """``work`` by ``count`` workers (``workers()``) at once: this thread and threads of
    their own, each with its own connection (closed when it is done), on the oldest jobs
    first. A renewal waits for PostgreSQL about a third of its time (docs/performance.md,
    "Bulk renewals"): while one worker waits, another builds its statements. Only this
    thread asks ``stop`` (the notifier's heartbeat); when it says so, or a worker fails,
    the others stop after their item. The error is raised here, after all have stopped
    (the item it held stays pending). Returns how many items they worked on."""
    count = workers() if count is None else count
    if count <= 1:
        return work(stop, seconds=seconds)
    halt = threading.Event()

    def stopping() -> bool:
        if stop():
            halt.set()
        return halt.is_set()

    def other() -> int:
        try:
            return work(halt.is_set, seconds=seconds)
        except BaseException:
            halt.set()  # the others stop too: the notifier sees the error at once
            raise
        finally:
            connections.close_all()  # this thread's own

    with ThreadPoolExecutor(count - 1, thread_name_prefix="bulk") as pool:
        others = [pool.submit(other) for _ in range(count - 1)]
        try:
            worked = work(stopping, seconds=seconds)
        finally:
            halt.set()  # this one is done (or failed): the others stop after their item
        return worked + sum(future.result() for future in others)


def pending(job_id: int | None = None) -> bool:
    """Whether any item waits (the notifier asks while it sleeps: one indexed query)."""
    rows = BulkJobItem.objects.filter(outcome=BulkOutcome.PENDING)
    return (rows.filter(job_id=job_id) if job_id else rows).exists()


def _claim(job_id: int | None) -> BulkJobItem | None:
    """The oldest pending item no other worker holds, locked until the commit."""
    rows = BulkJobItem.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        outcome=BulkOutcome.PENDING
    )
    if job_id is not None:
        rows = rows.filter(job_id=job_id)
    return rows.order_by("id").first()


def _work_one(jobs: dict[int, BulkJob], job_id: int | None) -> BulkJob | None:
    """One item in one transaction: claim it, apply the action, record the outcome and
    count it on the job. None when nothing is left to claim."""
    with transaction.atomic():
        item = _claim(job_id)
        if item is None:
            return None
        job = jobs.get(item.job_id)
        if job is None:
            job = jobs[item.job_id] = BulkJob.objects.get(pk=item.job_id)
        # the owner as it is now: a role taken away meanwhile refuses the rest
        owner = get_user_model().objects.select_related("membership").get(pk=job.owner_id)
        with translation.override(language_of(owner) or settings.LANGUAGE_CODE):
            outcome, message = _apply(job, owner, item.license_id)
        now = clock.now()
        BulkJobItem.objects.filter(pk=item.pk).update(
            outcome=outcome, message=message, finished=now
        )
        done = outcome == BulkOutcome.DONE
        BulkJob.objects.filter(pk=job.pk).update(
            done=F("done") + int(done),
            refused=F("refused") + int(not done),
            state=BulkJobState.RUNNING,
            started=Coalesce(F("started"), Value(now)),
        )
    return job


def _apply(job: BulkJob, owner, license_id: int) -> tuple[str, str]:
    """The action on one license, in a savepoint: (done, "") or (refused, why). A
    refused change leaves nothing behind (the savepoint is rolled back). Each function
    of ``APPLY`` is ``transaction.atomic`` itself, so its savepoint is that one."""
    if not owner.is_active:
        return BulkOutcome.REFUSED, _("Not allowed: the user who asked for it is inactive.")
    try:
        APPLY[job.action](owner, license_id, job)
    except PermissionDenied as error:
        why = str(error) or _("Your role cannot make this change to a license.")
        return BulkOutcome.REFUSED, _("Not allowed: %(why)s") % {"why": why}
    except ValidationError as error:
        return BulkOutcome.REFUSED, " ".join(error.messages)
    except APIException as error:  # Conflict: the status, the limit
        return BulkOutcome.REFUSED, str(error.detail)
    except License.DoesNotExist:
        return BulkOutcome.REFUSED, _("This license no longer exists.")
    except (OperationalError, InterfaceError):
        raise  # the database went away: the item stays pending, tried again later
    except Exception:  # a bug: logged, and this one license is not tried forever
        log.exception("bulk job %s: license %s failed", job.pk, license_id)
        return BulkOutcome.REFUSED, _("Not done: an unexpected error (logged).")
    return BulkOutcome.DONE, ""


def finish_complete(job_id: int | None = None) -> int:
    """Mark finished the unfinished jobs (or the one) without a pending item. A worker
    asks it, after its commit, for a job it has no item of to claim any more (it moved
    on to the next job, or nothing is left): the one that commits a job's last item
    finishes it, whichever of several workers that is."""
    left = BulkJobItem.objects.filter(job=OuterRef("pk"), outcome=BulkOutcome.PENDING)
    jobs = BulkJob.objects.exclude(state=BulkJobState.FINISHED).filter(~Exists(left))
    if job_id is not None:
        jobs = jobs.filter(pk=job_id)
    return jobs.update(state=BulkJobState.FINISHED, finished=clock.now())


def run_inline(job: BulkJob) -> None:
    """Work on a small job at once, in the request that made it (the same code as the
    notifier). If it cannot finish, the notifier takes the rest."""
    if job.total > INLINE_MAX:
        return
    try:
        work(job_id=job.pk)
    except Exception:  # the job is stored: the notifier resumes it
        log.exception("bulk job %s: the inline run stopped; the notifier resumes it", job.pk)
