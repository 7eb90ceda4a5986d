"""Writing a license's cycle of notices ahead (called by the lifecycle when an end date
is set: the start, a renewal)."""

from wlm.notifications import schedule
from wlm.notifications.models import Notice, NoticeState


def plan(license, replacing: bool = True) -> None:
    """The six notices of the license's current end date, scheduled; the scheduled
    notices of an earlier end date are dropped (a renewal starts a new cycle; a first
    start, ``replacing=False``, has none). Runs in the caller's transaction, on a locked
    license."""
    plan_all([license], replacing=replacing)


def plan_all(licenses: list, replacing: bool = True) -> None:
    """``plan`` for several licenses, in one statement each: the delete, the insert."""
    if not licenses:
        return
    if replacing:
        # one DELETE: a scheduled notice has no deliveries (they are written in the
        # transaction that decides it), so Django's collector, which reads the notices and
        # then their deliveries before deleting, has nothing to cascade to
        scheduled = Notice.objects.filter(license__in=licenses, state=NoticeState.SCHEDULED)
        scheduled._raw_delete(scheduled.db)
    notices = []
    for license in licenses:
        if license.end_date is None:
            continue
        for number, day in schedule.notice_days(license.end_date).items():
            notices.append(
                Notice(
                    license=license,
                    end_date=license.end_date,
                    number=number,
                    due=day,
                    due_at=schedule.start_of_day(day, license.timezone),
                )
            )
    # a number of this end date decided already stays decided
    Notice.objects.bulk_create(notices, ignore_conflicts=True)
