"""The notices list and the inbox at scale (docs/performance.md, "Pages at 1,000,000
licenses"): read from their indexes (the notices by ``due_at, number, id``; a user's
inbox by the item's own ``sent_at``) instead of sorting every row, their rows must stay
exactly those of the plain query they ran before, for every tenant, on every page.

The reference of the inbox is its old order, through the notice's ``decided_at``: an
item's ``sent_at`` is that time (written together; migration 0006 made older rows so).
Speed is measured by ``make bench BENCH=pages``, not here.
"""

import datetime as dt
import importlib

import pytest
import time_machine
from django.apps import apps
from django.db.models import Q

from wlm.conftest import make_user
from wlm.demo import load
from wlm.lib import pagination
from wlm.licenses import current
from wlm.licenses.models import License
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice, NoticeState
from wlm.tenancy.models import Distributor, Organization, Partner

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
NOTICES = "/api/v1/notifications/"
INBOX = "/api/v1/inbox/"
WHO = ("staff", "distributor", "partner", "organization")
ITEMS = 90  # inbox items of each tenant user


def _inbox(user, notices) -> None:
    """An inbox item of ``user`` for each of ``notices``, every third one read."""
    Delivery.objects.bulk_create(
        Delivery(
            notice=notice,
            channel=Channel.INBOX,
            recipient=user.username,
            user=user,
            tenant_type=user.membership.tenant_type,
            state=DeliveryState.SENT,
            sent_at=notice.decided_at,
            read_at=notice.decided_at if n % 3 == 0 else None,
        )
        for n, notice in enumerate(notices)
    )


@pytest.fixture
def scale(db):
    """Generated data (``generate_load``), one organization in four moved to a second
    partner and distributor, a user of each tenant kind, and inbox items: the latest
    notices sent for what each user sees, and for the partner's and distributor's users
    items of licenses they no longer see (written before the organizations moved)."""
    with time_machine.travel(NOW, tick=False):
        load.generate(120, pending_share=0.2, other_share=0.3, seed=7, history=2)
    partner = Partner.objects.get(name=load.PARTNER)
    second_distributor = Distributor.objects.create(name="Second Dist", email="d2@example.com")
    second_partner = Partner.objects.create(name="Second Partner", email="p2@example.com")
    second_partner.distributors.add(second_distributor)
    moved = [org.pk for org in Organization.objects.order_by("pk")][::4]
    organization = Organization.objects.filter(partner=partner).first()
    users = {
        "staff": make_user("scale-staff", "staff"),
        "distributor": make_user("scale-dist", "distributor", second_distributor),
        "partner": make_user("scale-partner", "partner", second_partner),
        "organization": make_user("scale-org", "organization", organization),
    }
    sent = Notice.objects.filter(state=NoticeState.SENT).order_by("-decided_at", "-id")
    # before the move: the second partner's and distributor's users got notices of the
    # licenses that stay with the first ones (items they must no longer see)
    staying = sent.exclude(license__location__organization__in=moved)[:20]
    for who in ("distributor", "partner"):
        _inbox(users[who], staying)
    Organization.objects.filter(pk__in=moved).update(partner=second_partner)
    License.objects.filter(location__organization__in=moved).update(
        partner=second_partner, distributor=second_distributor
    )
    current.refresh_copies()  # the stored licenses' copies of their tenants
    for who in ("staff", "distributor", "partner", "organization"):
        user = users[who]
        _inbox(user, sent.filter(license__in=License.objects.visible_to(user))[:ITEMS])
    return users


def every_page(client, url, params, page_size=23) -> tuple[list, list]:
    """The ids of all pages, in order, and the ``count`` of each page."""
    ids, counts, page = [], [], 1
    while True:
        response = client.get(url, {**params, "page": page, "page_size": page_size})
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        counts.append((body["count"], body["count_capped"]))
        if not body["next"]:
            return ids, counts
        page += 1


def seen_licenses(user):
    """The licenses ``user`` sees, as the plain join said it (a partner: its own
    licenses and those of its organizations; an organization: its own, once
    provisioned)."""
    membership = user.membership
    if membership.tenant_type == "staff":
        return License.objects.all()
    if membership.tenant_type == "distributor":
        return License.objects.filter(distributor=membership.distributor)
    if membership.tenant_type == "partner":
        partner = membership.partner
        return License.objects.filter(Q(partner=partner) | Q(organization__partner=partner))
    return License.objects.filter(organization=membership.organization)


NOTICE_CASES = [
    {},
    {"state": ["sent"]},
    {"state": ["pending", "skipped"], "number": [1, 6]},
    {"due_after": "2027-03-01", "due_before": "2027-09-01"},
]


def notice_reference(user, params):
    rows = Notice.objects.filter(license__in=seen_licenses(user).values("pk"))
    if params.get("state") == ["sent"]:
        rows = rows.filter(state=NoticeState.SENT)  # none failed or pending: no deliveries
    elif "state" in params:
        rows = rows.filter(state__in=[NoticeState.SCHEDULED, NoticeState.SKIPPED])
    if "number" in params:
        rows = rows.filter(number__in=params["number"])
    if "due_after" in params:
        rows = rows.filter(due__gte=params["due_after"], due__lte=params["due_before"])
    return list(rows.order_by("due_at", "number", "id").values_list("pk", flat=True))


@pytest.mark.parametrize("params", NOTICE_CASES)
def test_notice_rows_are_those_of_the_plain_query(scale, api, monkeypatch, params):
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 100_000)
    for who in WHO:
        expected = notice_reference(scale[who], params)
        assert expected, who
        ids, counts = every_page(api(scale[who]), NOTICES, params, page_size=331)
        assert ids == expected, who
        assert {count for count, _capped in counts} == {len(expected)}, who


INBOX_CASES = [{}, {"unread": "true"}, {"unread": "false"}, {"q": "0"}]


def inbox_reference(user, params):
    """The inbox as it was read: ordered through the notice's decision time."""
    rows = Delivery.objects.filter(
        channel=Channel.INBOX, user=user, notice__license__in=seen_licenses(user).values("pk")
    )
    if "unread" in params:
        rows = rows.filter(read_at__isnull=params["unread"] == "true")
    if "q" in params:
        rows = rows.filter(
            Q(notice__license__key__icontains=params["q"])
            | Q(notice__license__organization__name__icontains=params["q"])
        )
    return list(rows.order_by("-notice__decided_at", "-id").values_list("pk", flat=True))


@pytest.mark.parametrize("params", INBOX_CASES)
def test_inbox_rows_are_those_of_the_plain_query(scale, api, params):
    for who in WHO:
        expected = inbox_reference(scale[who], params)
        assert expected, who
        ids, counts = every_page(api(scale[who]), INBOX, params)
        assert ids == expected, who
        assert {count for count, _capped in counts} == {len(expected)}, who
    # the door: the items of licenses a tenant no longer sees are not listed
    for who in ("distributor", "partner"):
        user = scale[who]
        assert Delivery.objects.filter(user=user).count() > len(inbox_reference(user, {}))


def test_the_inbox_page_lists_them_in_that_order(scale, client):
    for who in WHO:
        client.force_login(scale[who])
        response = client.get("/inbox/", {"page": 2})
        assert response.status_code == 200
        ids = [item.pk for item in response.context["object_list"]]
        assert ids == inbox_reference(scale[who], {})[25:50], who
        unread = len(inbox_reference(scale[who], {"unread": "true"}))
        assert response.context["unread_count"] == unread, who


def test_older_inbox_items_are_sent_when_their_notice_was_decided(scale):
    """Migration 0006: an inbox item without ``sent_at``, or with another time, gets its
    notice's ``decided_at``; the other channels keep theirs."""
    migration = importlib.import_module("wlm.notifications.migrations.0006_inbox_sent_at")
    user = scale["partner"]
    items = list(Delivery.objects.filter(user=user).order_by("pk")[:3])
    Delivery.objects.filter(pk=items[0].pk).update(sent_at=None)
    Delivery.objects.filter(pk=items[1].pk).update(sent_at=NOW)
    other = Delivery.objects.create(
        notice=items[2].notice, channel=Channel.EMAIL, recipient="a@example.com", sent_at=NOW
    )
    migration.sent_when_decided(apps, None)
    for item in items:
        item.refresh_from_db()
        assert item.sent_at == item.notice.decided_at
    other.refresh_from_db()
    assert other.sent_at == NOW
