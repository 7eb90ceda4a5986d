"""``manage.py notifier``: one pass, the loop's stop signal, the crash-loop guard."""

import datetime as dt
import io
import os
import signal

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from wlm.notifications import worker
from wlm.notifications.models import Notice, NoticeState
from wlm.notifications.tests.conftest import local_midnight

pytestmark = pytest.mark.django_db
FIRST_NOTICE = dt.date(2027, 6, 1)


def test_once_does_one_full_pass_and_says_what_it_did(in_use):
    out = io.StringIO()
    with time_machine.travel(local_midnight(FIRST_NOTICE), tick=False):
        call_command("notifier", "--once", stdout=out)
    assert Notice.objects.get(license=in_use, number=1).state == NoticeState.SENT
    assert len(mail.outbox) == 4
    assert "notices sent 1" in out.getvalue()
    assert "deliveries ok 4" in out.getvalue()


def test_sigterm_ends_the_loop_after_the_pass(in_use, monkeypatch):
    passes = []
    real_pass = worker.run_pass

    def pass_then_sigterm(stop):
        passes.append(real_pass(stop=stop))
        os.kill(os.getpid(), signal.SIGTERM)  # as a supervisor stopping the worker
        return passes[-1]

    monkeypatch.setattr(worker, "run_pass", pass_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    with time_machine.travel(local_midnight(FIRST_NOTICE), tick=False):
        call_command("notifier", "--interval", "3600", stdout=out)  # returns: no hour's wait
    assert len(passes) == 1
    assert passes[0].sent == 1
    assert "notifier stopped" in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back


def test_a_signal_during_a_pass_stops_it_at_the_next_batch(in_use, monkeypatch):
    asked = []

    def stop_at_once(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        asked.append(stop())
        return worker.PassResult()

    monkeypatch.setattr(worker, "run_pass", stop_at_once)
    call_command("notifier", "--interval", "3600", stdout=io.StringIO())
    assert asked == [True]  # the pass sees the stop between its batches


def test_repeated_failures_end_the_worker_with_an_error(monkeypatch):
    calls = []

    def broken(stop):
        calls.append(1)
        raise RuntimeError("database is gone")

    monkeypatch.setattr(worker, "run_pass", broken)
    with pytest.raises(CommandError, match="database is gone"):
        call_command("notifier", "--interval", "0", "--max-failures", "3", stdout=io.StringIO())
    assert len(calls) == 3


def test_a_failure_between_successes_is_forgiven(monkeypatch):
    outcomes = iter([RuntimeError("blip"), None, RuntimeError("blip"), None, "stop"])

    def flaky(stop):
        outcome = next(outcomes)
        if outcome == "stop":
            os.kill(os.getpid(), signal.SIGTERM)
        elif outcome is not None:
            raise outcome
        return worker.PassResult()

    monkeypatch.setattr(worker, "run_pass", flaky)
    out = io.StringIO()
    call_command("notifier", "--interval", "0", "--max-failures", "2", stdout=out)
    assert "notifier stopped" in out.getvalue()


def test_once_fails_loudly(monkeypatch):
    monkeypatch.setattr(worker, "run_pass", lambda stop: 1 / 0)
    with pytest.raises(CommandError):
        call_command("notifier", "--once", stdout=io.StringIO())
