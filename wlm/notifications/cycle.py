"""Writing a license's cycle of notices ahead (called by the lifecycle when an end date
is set: the start, a renewal)."""

from wlm.notifications import schedule
from wlm.notifications.models import Notice, NoticeState


def plan(license, replacing: bool = True) -> None:
    """The six notices of the license's current end date, scheduled; the scheduled
    notices of an earlier end date are dropped (a renewal starts a new cycle; a first
    start, ``replacing=False``, has none). Runs in the caller's transaction, on a locked
    license."""
    if replacing:
        Notice.objects.filter(license=license, state=NoticeState.SCHEDULED).delete()
    if license.end_date is None:
        return
    days = schedule.notice_days(license.end_date)
    Notice.objects.bulk_create(
        [
            Notice(
                license=license,
                end_date=license.end_date,
                number=number,
                due=day,
                due_at=schedule.start_of_day(day, license.timezone),
            )
            for number, day in days.items()
        ],
        ignore_conflicts=True,  # a number of this end date decided already stays decided
    )
