"""Every expiry notice (numbers 1 to 6) carries the way to a renewal: the link to the
license's prefilled renewal request at the service's public address, in the e-mail's
text and HTML parts and on the inbox item; the form it opens is the partner's and the
organization's, and takes the distributor to its own Renew form."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from wlm.notifications import messages
from wlm.notifications.tests.conftest import DUE_DAYS, local_midnight

pytestmark = pytest.mark.django_db

PUBLIC = "https://wifi.example"
T1 = local_midnight(DUE_DAYS[1])


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = PUBLIC


@pytest.mark.parametrize("language", ["en", "es"])
def test_each_notice_links_the_renewal_request(world, in_use, language):
    link = f"{PUBLIC}/requests/renewal/{in_use.pk}/"
    notices = list(in_use.notices.order_by("number"))
    assert [notice.number for notice in notices] == [1, 2, 3, 4, 5, 6]
    for notice in notices:
        message = messages.render(notice, language, at=notice.due_at)
        assert link in message.text, notice.number
        assert f'<a href="{link}">' in message.html, notice.number
    if language == "en":
        assert "Request the renewal here:" in messages.render(notices[0], language).text


def test_the_email_and_the_inbox_carry_it(client, world, in_use, smtp, run_at):
    run_at(T1)
    link = f"{PUBLIC}/requests/renewal/{in_use.pk}/"
    assert smtp.accepted
    for mail in smtp.accepted:
        assert link in mail.part("text/plain") and f'href="{link}"' in mail.part("text/html")
    form = reverse("requests:renewal", args=[in_use.pk])
    with time_machine.travel(T1 + dt.timedelta(hours=1), tick=False):
        client.force_login(world.org_admin)
        inbox = client.get(reverse("notifications:inbox")).content.decode()
        assert f'<a href="{form}" data-testid="request-renewal">' in inbox
        assert client.get(form).status_code == 200  # the organization's admin asks
        client.force_login(world.dist_admin)
        answer = client.get(form)  # the distributor renews itself
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{in_use.pk}/renew/")
