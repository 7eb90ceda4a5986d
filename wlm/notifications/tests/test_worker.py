"""The notifier's pass: the schedule, catch-up, cut-off, renewal, the outbox."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from wlm.licenses import lifecycle
from wlm.licenses.models import EventKind, LicenseStatus
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice, NoticeState
from wlm.notifications.tests.conftest import DUE_DAYS, END, local_midnight

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def states(license) -> dict[int, str]:
    return dict(
        Notice.objects.filter(license=license, end_date=license.end_date).values_list(
            "number", "state"
        )
    )


def test_a_start_schedules_the_six_notices_of_its_cycle(in_use):
    assert in_use.end_date == END
    notices = Notice.objects.filter(license=in_use).order_by("number")
    assert [(n.number, n.due, n.state) for n in notices] == [
        (number, day, NoticeState.SCHEDULED) for number, day in DUE_DAYS.items()
    ]
    assert all(n.due_at == local_midnight(n.due) for n in notices)


def test_each_notice_goes_out_at_local_midnight_of_its_day(in_use, run_at):
    for number, day in DUE_DAYS.items():
        assert run_at(local_midnight(day) - SECOND).sent == 0
        result = run_at(local_midnight(day))
        assert result.sent == 1 and result.skipped == 0
        assert states(in_use)[number] == NoticeState.SENT
    assert set(states(in_use).values()) == {NoticeState.SENT}


def test_the_whole_schedule_day_by_day_sends_each_notice_once(in_use, run_at):
    day = dt.datetime(2027, 5, 25, 12, 0, tzinfo=dt.UTC)
    sent_on = {}
    while day < dt.datetime(2027, 7, 10, tzinfo=dt.UTC):
        result = run_at(day)
        if result.sent:
            sent_on[day.date()] = result.sent
        run_at(day)  # a second pass the same day sends nothing new
        day += DAY
    assert sent_on == dict.fromkeys(DUE_DAYS.values(), 1)
    assert Notice.objects.filter(license=in_use, state=NoticeState.SENT).count() == 6
    # e-mail: the organization's admin, and the three tenants' notice contacts, per notice
    assert len(mail.outbox) == 6 * 4


def test_the_end_date_cuts_off_the_license_with_a_history_entry(in_use, run_at):
    run_at(local_midnight(END) - SECOND)
    in_use.refresh_from_db()
    assert in_use.status == LicenseStatus.IN_USE
    result = run_at(local_midnight(END))
    assert result.cut_off == 1
    in_use.refresh_from_db()
    assert in_use.status == LicenseStatus.CONTRACT_FINALIZED
    assert in_use.events.filter(kind=EventKind.CUT_OFF).count() == 1


def test_a_notifier_back_after_days_sends_only_the_latest_due(in_use, run_at):
    run_at(local_midnight(DUE_DAYS[1]))  # notice 1 sent, then the notifier is down
    result = run_at(local_midnight(DUE_DAYS[4]) + dt.timedelta(hours=5))
    assert (result.sent, result.skipped) == (1, 2)
    assert states(in_use) == {
        1: NoticeState.SENT,
        2: NoticeState.SKIPPED,
        3: NoticeState.SKIPPED,
        4: NoticeState.SENT,
        5: NoticeState.SCHEDULED,
        6: NoticeState.SCHEDULED,
    }


def test_the_cut_off_is_applied_even_when_notice_5_is_skipped(in_use, run_at):
    result = run_at(local_midnight(DUE_DAYS[6]) + dt.timedelta(days=3))
    assert (result.sent, result.skipped, result.cut_off) == (1, 5, 1)
    in_use.refresh_from_db()
    assert in_use.status == LicenseStatus.CONTRACT_FINALIZED
    assert states(in_use)[6] == NoticeState.SENT


def test_a_denied_license_still_gets_its_notices_and_its_cut_off(world, in_use, run_at):
    with time_machine.travel(local_midnight(DUE_DAYS[1]) - DAY, tick=False):
        lifecycle.deny(world.dist_admin, in_use.pk, "Unpaid.")
    assert run_at(local_midnight(DUE_DAYS[1])).sent == 1
    assert run_at(local_midnight(END)).cut_off == 1
    in_use.refresh_from_db()
    assert in_use.status == LicenseStatus.CONTRACT_FINALIZED


def test_a_renewal_starts_a_new_cycle(world, in_use, run_at):
    run_at(local_midnight(DUE_DAYS[2]))  # notices 1 (skipped) and 2 (sent)
    with time_machine.travel(local_midnight(DUE_DAYS[2]) + dt.timedelta(hours=3), tick=False):
        renewed = lifecycle.renew(world.dist_admin, in_use.pk, 1)
    new_end = dt.date(2028, 7, 1)
    assert renewed.end_date == new_end
    old = dict(Notice.objects.filter(license=in_use, end_date=END).values_list("number", "state"))
    assert old == {1: NoticeState.SKIPPED, 2: NoticeState.SENT}  # the rest were dropped
    assert states(renewed) == dict.fromkeys(range(1, 7), NoticeState.SCHEDULED)
    assert run_at(local_midnight(END)).sent == 0  # the old end date means nothing now
    renewed.refresh_from_db()
    assert renewed.status == LicenseStatus.IN_USE


def test_the_outbox_holds_every_recipient_and_the_inbox_is_delivered_at_once(world, in_use, run_at):
    run_at(local_midnight(DUE_DAYS[1]))
    notice = Notice.objects.get(license=in_use, number=1)
    rows = {(d.channel, d.recipient, d.state) for d in notice.deliveries.all()}
    assert rows == {
        (Channel.INBOX, "org_admin", DeliveryState.SENT),
        (Channel.INBOX, "partner_admin", DeliveryState.SENT),
        (Channel.INBOX, "dist_admin", DeliveryState.SENT),
        (Channel.EMAIL, "org_admin@example.com", DeliveryState.SENT),
        (Channel.EMAIL, "org@example.com", DeliveryState.SENT),
        (Channel.EMAIL, "partner@example.com", DeliveryState.SENT),
        (Channel.EMAIL, "dist@example.com", DeliveryState.SENT),
    }
    assert Delivery.objects.filter(notice=notice).exclude(attempts__lte=1).count() == 0


def test_a_claim_too_slow_for_its_lease_gives_back_what_it_did_not_try(in_use, run_at, monkeypatch):
    from wlm.notifications import channels, worker

    moment = local_midnight(DUE_DAYS[1])
    with time_machine.travel(moment, tick=False) as traveller:
        worker.decide_due(worker.PassResult(), set())
        real_send = channels.send

        def slow_send(delivery, connection=None):
            detail = real_send(delivery, connection)
            traveller.shift(worker.LEASE - worker.SEND_MARGIN)  # a very slow server
            return detail

        monkeypatch.setattr(channels, "send", slow_send)
        result = worker.PassResult()
        worker.deliver_due(result)
        assert result.delivered == 1  # the second would start too late in the lease
        emails = Delivery.objects.filter(notice__license=in_use, channel=Channel.EMAIL)
        waiting = emails.filter(state=DeliveryState.PENDING)
        assert waiting.count() == 3
        assert all(d.attempts == 0 and d.next_attempt_at <= worker.clock.now() for d in waiting)
        monkeypatch.setattr(channels, "send", real_send)
        while worker.deliver_due(result):
            pass
    assert set(emails.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert len(mail.outbox) == 4
