"""The inbox page: the user's own in-app notices (as GET /api/v1/inbox/), newest first,
and "Mark as read" (the same service as POST /api/v1/inbox/{id}/read/)."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wlm.notifications import messages
from wlm.notifications.models import Channel, Delivery, Notice
from wlm.notifications.tests.conftest import DUE_DAYS, local_midnight, make_in_use

pytestmark = pytest.mark.django_db

INBOX = reverse("notifications:inbox")
AFTER = local_midnight(DUE_DAYS[4]) + dt.timedelta(hours=6)  # notices 1 and 4 sent


@pytest.fixture
def history(world, in_use, run_at):
    """Notices 1 and 4 went out (2 and 3 skipped): two items in each admin's inbox."""
    run_at(local_midnight(DUE_DAYS[1]))
    run_at(local_midnight(DUE_DAYS[4]) + dt.timedelta(hours=5))
    return in_use


@pytest.fixture(autouse=True)
def _after_the_notices():
    with time_machine.travel(AFTER, tick=False):
        yield


def items(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'<li class="inbox-item[^"]*" data-id="(\d+)"', response.content.decode())


def inbox_ids(user, **filters) -> list[str]:
    rows = Delivery.objects.filter(channel=Channel.INBOX, user=user, **filters)
    return [str(pk) for pk in rows.order_by("-notice__decided_at").values_list("pk", flat=True)]


def read_url(pk) -> str:
    return reverse("notifications:read", args=[pk])


def test_anonymous_is_sent_to_the_login_page(client, world, history):
    [pk, *_] = inbox_ids(world.org_admin)
    for response in (client.get(INBOX), client.post(read_url(pk))):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert Delivery.objects.get(pk=pk).read_at is None


def test_the_inbox_lists_the_users_own_notices_newest_first(client, world, history):
    client.force_login(world.org_admin)
    response = client.get(INBOX)
    html = response.content.decode()
    assert 'data-testid="inbox-list"' in html
    assert items(response) == inbox_ids(world.org_admin)
    assert len(items(response)) == 2
    newest = Notice.objects.get(license=history, number=4)
    expected = messages.render(newest, "en")
    assert expected.subject in html
    assert "ends tomorrow" in expected.subject
    assert reverse("licenses:detail", args=[history.pk]) in html and history.key in html
    # the unread count in the title and the heading
    assert "<title>Inbox (2)" in html and "2 unread" in html


@pytest.mark.parametrize("person", ["staff", "org_viewer", "other_org_admin", "dist_viewer"])
def test_users_without_notices_see_an_empty_inbox(client, world, history, person):
    client.force_login(getattr(world, person))
    response = client.get(INBOX)
    assert items(response) == []
    assert "Your inbox is empty." in response.content.decode()


def test_the_partner_and_distributor_admins_read_their_own_copies(client, world, history):
    for person in ("partner_admin", "dist_admin"):
        user = getattr(world, person)
        client.force_login(user)
        assert items(client.get(INBOX)) == inbox_ids(user), person
        assert set(inbox_ids(user)).isdisjoint(inbox_ids(world.org_admin))


def test_mark_as_read_sets_the_time_once_and_returns_to_the_inbox(client, world, history):
    newest, oldest = inbox_ids(world.org_admin)
    client.force_login(world.org_admin)
    html = client.get(INBOX).content.decode()
    assert html.count("Mark as read") == 2 and f'action="{read_url(oldest)}"' in html
    response = client.post(read_url(oldest), {"next": INBOX + "?page=1"})
    assert response.status_code == 302 and response["Location"] == INBOX + "?page=1"
    first = Delivery.objects.get(pk=oldest).read_at
    assert first == AFTER
    with time_machine.travel(AFTER + dt.timedelta(days=1), tick=False):
        client.force_login(world.org_admin)
        client.post(read_url(oldest))
    assert Delivery.objects.get(pk=oldest).read_at == first
    page = client.get(INBOX).content.decode()
    assert page.count("Mark as read") == 1 and "1 unread" in page
    assert items(client.get(INBOX, {"unread": "true"})) == [newest]


def test_the_unread_count_stops_at_the_lists_limit(client, world, history, monkeypatch):
    """A large tenant's admin receives every notice of its licenses: the unread items
    are counted up to the lists' limit, then shown as "more than"."""
    from wlm.notifications import services

    client.force_login(world.org_admin)
    monkeypatch.setattr(services, "COUNT_LIMIT", 1)
    html = client.get(INBOX).content.decode()
    assert "<title>Inbox (1+)" in html and "More than 1 unread" in html
    monkeypatch.setattr(services, "COUNT_LIMIT", 2)
    html = client.get(INBOX).content.decode()
    assert "<title>Inbox (2)" in html and "2 unread" in html and "More than" not in html
    [newest, _] = inbox_ids(world.org_admin)
    monkeypatch.setattr(services, "COUNT_LIMIT", 0)
    html = client.post(read_url(newest), headers={"HX-Request": "true"}).content.decode()
    assert 'id="unread-count" hx-swap-oob="true"' in html and "More than 0 unread" in html


def test_mark_as_read_goes_nowhere_but_this_site(client, world, history):
    [pk, *_] = inbox_ids(world.org_admin)
    client.force_login(world.org_admin)
    response = client.post(read_url(pk), {"next": "https://evil.example/"})
    assert response["Location"] == INBOX


def test_mark_as_read_with_htmx_swaps_the_item_and_the_count(client, world, history):
    newest, _ = inbox_ids(world.org_admin)
    client.force_login(world.org_admin)
    response = client.post(read_url(newest), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-id="{newest}" data-read="true"' in html and "Mark as read" not in html
    assert 'id="unread-count" hx-swap-oob="true"' in html and "1 unread" in html


def test_a_viewer_marks_its_own_items_read(client, world, history):
    notice = Notice.objects.get(license=history, number=4)
    own = Delivery.objects.create(
        notice=notice,
        channel=Channel.INBOX,
        recipient="org_viewer",
        user=world.org_viewer,
        tenant_type="organization",
        tenant_id=world.org.pk,
        state="sent",
        sent_at=notice.decided_at,
    )
    client.force_login(world.org_viewer)
    assert items(client.get(INBOX)) == [str(own.pk)]
    assert client.post(read_url(own.pk)).status_code == 302
    own.refresh_from_db()
    assert own.read_at is not None


@pytest.mark.parametrize("person", ["partner_admin", "staff", "org_viewer", "other_org_admin"])
def test_another_users_item_is_not_found(client, world, history, person):
    [pk, *_] = inbox_ids(world.org_admin)
    client.force_login(getattr(world, person))
    assert client.post(read_url(pk)).status_code == 404
    assert Delivery.objects.get(pk=pk).read_at is None


def test_marking_read_is_post_only_and_huge_ids_are_not_found(client, world, history):
    [pk, *_] = inbox_ids(world.org_admin)
    client.force_login(world.org_admin)
    assert client.get(read_url(pk)).status_code == 405
    assert Delivery.objects.get(pk=pk).read_at is None
    assert client.post(read_url(2**64)).status_code == 404


def test_bad_filters_do_not_crash(client, world, history):
    client.force_login(world.org_admin)
    assert items(client.get(INBOX, {"unread": "maybe"})) == []
    assert client.get(INBOX, {"page": "99"}).status_code == 404


def test_the_inbox_takes_the_same_queries_for_more_items(
    client, world, in_use, run_at, django_assert_max_num_queries
):
    run_at(local_midnight(DUE_DAYS[1]))
    client.force_login(world.org_admin)
    with CaptureQueriesContext(connection) as one:
        assert len(items(client.get(INBOX))) == 1
    make_in_use(world, location=world.shop)
    for number in (2, 3, 4):
        run_at(local_midnight(DUE_DAYS[number]))
    client.force_login(world.org_admin)
    with django_assert_max_num_queries(len(one)):
        assert len(items(client.get(INBOX))) == 4 + 3
    assert len(one) <= 10
