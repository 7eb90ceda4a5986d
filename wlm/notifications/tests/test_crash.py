"""Several notifiers at once, and a notifier killed in the middle of a pass (PostgreSQL).

The notifiers here are real: threads with their own database connections for the
concurrent passes, and ``manage.py notifier --once`` child processes for the crash, which
read the test database and send to a real SMTP server (aiosmtpd) run by the test.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection

from wlm.locations.models import Location
from wlm.notifications import channels, worker
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice, NoticeState
from wlm.notifications.tests.conftest import local_midnight, make_in_use
from wlm.tests.smtp import Mail, free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="several processes share the test database"
    ),
]
ROOT = Path(__file__).resolve().parents[3]
FIRST_NOTICE = local_midnight(dt.date(2027, 6, 1)) + dt.timedelta(minutes=1)
LICENSES = 12
EMAILS_PER_NOTICE = 4  # the organization's admin and the three tenants' notice contacts


def notice_addresses(world) -> set[str]:
    """Who gets each license's notice by e-mail: the organization's admin and the three
    tenants' notice contacts."""
    return {world.org_admin.email, world.org.email, world.partner.email, world.dist.email}


def received_per_license(accepted: list[Mail], licenses) -> dict[str, Counter]:
    """How many messages each address received about each license (by the key that the
    subject names), as the SMTP server accepted them."""
    received = {license.key: Counter() for license in licenses}
    for message in accepted:
        subject = message.message["Subject"]
        named = [key for key in received if key in subject]
        about = named[0] if len(named) == 1 else f"no one license: {subject}"
        received.setdefault(about, Counter()).update(message.rcpt_tos)
    return received


def many_in_use(world, n: int):
    licenses = []
    for i in range(n):
        place = Location.objects.create(
            organization=world.org,
            name=f"Shop {i}",
            sector="retail",
            timezone="Europe/Madrid",
            country="ES",
        )
        licenses.append(make_in_use(world, location=place))
    return licenses


def test_three_notifiers_at_once_decide_and_send_each_notice_once(world, smtp):
    licenses = many_in_use(world, LICENSES)
    errors = []

    def notifier():
        try:
            worker.run_pass()
        except Exception as error:  # reported below: a thread's exception is lost otherwise
            errors.append(error)
        finally:
            connection.close()

    with time_machine.travel(FIRST_NOTICE, tick=False):
        threads = [threading.Thread(target=notifier) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    once_each = Counter(notice_addresses(world))
    assert received_per_license(smtp.accepted, licenses) == {
        license.key: once_each for license in licenses
    }
    assert Notice.objects.filter(number=1, state=NoticeState.SENT).count() == LICENSES
    sent_ids = [m.header("Message-ID") for m in smtp.accepted]
    assert len(sent_ids) == len(set(sent_ids)) == LICENSES * EMAILS_PER_NOTICE
    emails = Delivery.objects.filter(channel=Channel.EMAIL)
    assert {channels.message_id(d) for d in emails} == set(sent_ids)
    assert set(emails.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert all(d.attempts == 1 for d in emails)


class Recorder:
    """Accepts and records messages; on message number ``kill_at`` it kills the notifier
    process first and does not accept that message (the notifier never saw it go out)."""

    def __init__(self, kill_at: int | None = None):
        self.accepted: list[Mail] = []
        self.kill_at = kill_at
        self.victim: subprocess.Popen | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.kill_at is not None and len(self.accepted) + 1 == self.kill_at:
                self.kill_at = None
                self.victim.send_signal(signal.SIGKILL)
                self.victim.wait()
                return "451 the notifier died"
            self.accepted.append(
                Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [message.header("Message-ID") for message in self.accepted]


CHILD = """
import datetime as dt, os, sys
import django, time_machine
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")
django.setup()
from django.core.management import call_command
with time_machine.travel(dt.datetime.fromisoformat(sys.argv[1]), tick=True):
    call_command("notifier", "--once")
"""


def notifier_process(at: dt.datetime, smtp_port: int) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "CONN_MAX_AGE": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, at.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def killing_smtp():
    """The SMTP server of the notifier processes (``Recorder``) and its port."""
    recorder = Recorder()
    port = free_port()  # (the controller cannot start on port 0)
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


def test_a_notifier_killed_mid_pass_and_restarted_delivers_every_notice_once(world, killing_smtp):
    recorder, port = killing_smtp
    licenses = many_in_use(world, LICENSES)
    expected = LICENSES * EMAILS_PER_NOTICE
    recorder.kill_at = expected // 2

    first = notifier_process(FIRST_NOTICE, port)
    recorder.victim = first
    output = first.communicate(timeout=120)[0].decode()
    assert first.returncode == -signal.SIGKILL, output
    assert len(recorder.accepted) == expected // 2 - 1

    # restarted after the lease of the deliveries the dead notifier had claimed
    second = notifier_process(FIRST_NOTICE + worker.LEASE + dt.timedelta(minutes=1), port)
    output = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, output

    once_each = Counter(notice_addresses(world))
    assert received_per_license(recorder.accepted, licenses) == {
        license.key: once_each for license in licenses
    }
    emails = Delivery.objects.filter(channel=Channel.EMAIL)
    sent_ids = recorder.message_ids()
    assert sorted(sent_ids) == sorted(channels.message_id(d) for d in emails)
    assert len(sent_ids) == len(set(sent_ids)) == expected
    assert set(emails.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert Notice.objects.filter(number=1, state=NoticeState.SENT).count() == LICENSES
