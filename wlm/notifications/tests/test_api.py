"""The notices through the API: GET /notifications/, the license view's notices, the
in-app inbox, and the tenants' notice language."""

import datetime as dt
import smtplib
import socket
from collections import Counter

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wlm.notifications import messages
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice
from wlm.notifications.tests.conftest import DUE_DAYS, local_midnight, make_in_use
from wlm.tenancy.models import Distributor, Membership, Organization, Partner

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "/api/v1/notifications/"
INBOX = "/api/v1/inbox/"


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that refuses every recipient, quoting the address (as they do)."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused(
            {message.to[0]: (550, b"5.1.1 mailbox unavailable") for message in email_messages}
        )


REFUSING = "wlm.notifications.tests.test_api.RefusingBackend"


@pytest.fixture
def dead_url():
    """A webhook URL on a local port nobody listens on: every attempt is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def by_number(response) -> dict[int, dict]:
    return {row["number"]: row for row in rows(response)}


@pytest.fixture
def history(world, in_use, run_at, settings, dead_url):
    """Notice 1 failed (the partner's webhook refused, one attempt allowed), 2 and 3
    skipped (the notifier was down), 4 sent, 5 and 6 still to come."""
    settings.NOTICE_MAX_ATTEMPTS = 1
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the refusing port is on 127.0.0.1
    Partner.objects.filter(pk=world.partner.pk).update(webhook_url=dead_url)
    run_at(local_midnight(DUE_DAYS[1]))
    Partner.objects.filter(pk=world.partner.pk).update(webhook_url="")
    run_at(local_midnight(DUE_DAYS[4]) + dt.timedelta(hours=5))
    return in_use


# --- GET /notifications/ ---------------------------------------------------------------


def test_a_started_license_shows_its_six_upcoming_notices_with_their_dates(world, api, in_use):
    notices = rows(api(world.org_viewer).get(NOTIFICATIONS, {"license": in_use.pk}))
    assert [(n["number"], n["due"], n["state"]) for n in notices] == [
        (number, day.isoformat(), "pending") for number, day in DUE_DAYS.items()
    ]
    first = notices[0]
    assert first["license"] == in_use.pk and first["key"] == in_use.key
    assert first["end_date"] == "2027-07-01"
    assert dt.datetime.fromisoformat(first["due_at"]) == local_midnight(DUE_DAYS[1])
    assert first["sent_at"] is None and first["decided_at"] is None
    assert first["deliveries"] == []


def test_sent_skipped_failed_and_upcoming_notices(world, api, history):
    notices = by_number(api(world.staff).get(NOTIFICATIONS))
    assert {number: n["state"] for number, n in notices.items()} == {
        1: "failed",
        2: "skipped",
        3: "skipped",
        4: "sent",
        5: "pending",
        6: "pending",
    }
    assert notices[2]["deliveries"] == [] and notices[2]["sent_at"] is None
    assert notices[2]["decided_at"] is not None
    sent_times = [d["sent_at"] for d in notices[4]["deliveries"]]
    assert notices[4]["sent_at"] == max(sent_times)
    webhook = next(d for d in notices[1]["deliveries"] if d["channel"] == Channel.WEBHOOK)
    assert webhook["state"] == "failed" and webhook["attempts"] == 1
    assert webhook["sent_at"] is None and "refused" in webhook["last_error"].lower()
    assert [(a["ok"], a["detail"]) for a in webhook["attempt_log"]] == [
        (False, webhook["last_error"])
    ]
    # the rest of notice 1 went out: its time is that of its latest delivery
    assert notices[1]["sent_at"] is not None


def test_a_notice_whose_deliveries_are_being_retried_is_pending(
    world, api, in_use, run_at, settings
):
    settings.EMAIL_BACKEND = REFUSING
    settings.NOTICE_MAX_ATTEMPTS = 3
    run_at(local_midnight(DUE_DAYS[1]))
    notice = by_number(api(world.staff).get(NOTIFICATIONS))[1]
    assert notice["state"] == "pending"
    emails = [d for d in notice["deliveries"] if d["channel"] == Channel.EMAIL]
    assert {d["state"] for d in emails} == {"pending"} and len(emails) == 4
    # the inbox was delivered when the notice was decided
    assert {d["state"] for d in notice["deliveries"] if d["channel"] == Channel.INBOX} == {"sent"}


@pytest.mark.parametrize(
    ("query", "numbers"),
    [
        ({"state": "failed"}, [1]),
        ({"state": ["skipped", "failed"]}, [1, 2, 3]),
        ({"state": "pending"}, [5, 6]),
        ({"state": "sent"}, [4]),
        ({"number": [3, 6]}, [3, 6]),
        ({"due_after": "2027-06-16", "due_before": "2027-06-30"}, [2, 3, 4]),
        ({"due_after": "2027-07-02"}, [6]),
        ({"ordering": "-number"}, [6, 5, 4, 3, 2, 1]),
        ({"ordering": "-due_at"}, [6, 5, 4, 3, 2, 1]),
        ({"state": "skipped", "number": 2}, [2]),
    ],
)
def test_filters_and_ordering(world, api, history, query, numbers):
    response = api(world.partner_admin).get(NOTIFICATIONS, query)
    assert [n["number"] for n in rows(response)] == numbers


def test_the_license_filter_and_the_search(world, api, history):
    shop = make_in_use(world, location=world.shop)
    client = api(world.dist_admin)
    assert {n["license"] for n in rows(client.get(NOTIFICATIONS))} == {history.pk, shop.pk}
    assert {n["license"] for n in rows(client.get(NOTIFICATIONS, {"license": shop.pk}))} == {
        shop.pk
    }
    assert {n["license"] for n in rows(client.get(NOTIFICATIONS, {"q": shop.key}))} == {shop.pk}
    assert {n["license"] for n in rows(client.get(NOTIFICATIONS, {"q": "shop"}))} == {shop.pk}


def test_a_notice_is_visible_exactly_when_its_license_is(world, api, history):
    notice = Notice.objects.filter(license=history).first()
    for person in ("staff", "dist_viewer", "partner_viewer", "org_viewer"):
        client = api(getattr(world, person))
        assert len(rows(client.get(NOTIFICATIONS))) == 6, person
        assert client.get(f"{NOTIFICATIONS}{notice.pk}/").status_code == 200, person
    for person in ("other_dist_admin", "other_partner_admin", "other_org_admin"):
        client = api(getattr(world, person))
        assert rows(client.get(NOTIFICATIONS)) == [], person
        assert client.get(f"{NOTIFICATIONS}{notice.pk}/").status_code == 404, person
        # naming the license in the filter is the same 400 as naming a missing one
        assert client.get(NOTIFICATIONS, {"license": history.pk}).status_code == 400
    assert api(world.gateway).get(NOTIFICATIONS).status_code == 403
    assert api(world.gateway).get(f"{NOTIFICATIONS}{notice.pk}/").status_code == 403
    assert api().get(NOTIFICATIONS).status_code == 401


def test_the_notices_are_read_only(world, api, history):
    notice = Notice.objects.filter(license=history).first()
    client = api(world.staff)
    assert client.post(NOTIFICATIONS, {}).status_code == 405
    assert client.patch(f"{NOTIFICATIONS}{notice.pk}/", {"number": 2}).status_code == 405
    assert client.delete(f"{NOTIFICATIONS}{notice.pk}/").status_code == 405


def test_the_csv_export_has_a_row_per_notice(world, api, history):
    response = api(world.org_admin).get(NOTIFICATIONS, {"format": "csv"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,license,key,number,due,due_at,end_date,state")
    assert len(lines) == 1 + 6


def test_the_list_takes_the_same_queries_for_more_notices_deliveries_and_attempts(
    world, api, in_use, run_at, django_assert_max_num_queries
):
    client = api(world.org_admin)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert len(rows(client.get(NOTIFICATIONS, {"page_size": 100}))) > 0
        return len(captured)

    run_at(local_midnight(DUE_DAYS[1]))
    client.get(INBOX)  # the token's first use notes it (one UPDATE, then not for a minute)
    few = queries()  # one license: one notice decided, seven deliveries, their attempts
    make_in_use(world, location=world.shop)
    run_at(local_midnight(DUE_DAYS[3]))
    assert Notice.objects.exclude(state="scheduled").count() == 6
    assert Delivery.objects.count() == 3 * 7
    # token with its user, membership, count, page, deliveries, attempts
    with django_assert_max_num_queries(6):
        assert len(rows(client.get(NOTIFICATIONS, {"page_size": 100}))) == 12
    assert queries() == few


# --- Recipients: their own tenant and staff see them, the others a label -------------


def recipients(response, number=1) -> set[tuple[str, str]]:
    notice = by_number(response)[number]
    return {(d["channel"], d["recipient"]) for d in notice["deliveries"]}


ALL_RECIPIENTS = {
    (Channel.INBOX, "org_admin"),
    (Channel.INBOX, "partner_admin"),
    (Channel.INBOX, "dist_admin"),
    (Channel.EMAIL, "org_admin@example.com"),
    (Channel.EMAIL, "org@example.com"),
    (Channel.EMAIL, "partner@example.com"),
    (Channel.EMAIL, "dist@example.com"),
}


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", ALL_RECIPIENTS),
        ("staff_viewer", ALL_RECIPIENTS),
        (
            "org_viewer",
            {
                (Channel.INBOX, "org_admin"),
                (Channel.INBOX, "partner contact"),
                (Channel.INBOX, "distributor contact"),
                (Channel.EMAIL, "org_admin@example.com"),
                (Channel.EMAIL, "org@example.com"),
                (Channel.EMAIL, "partner contact"),
                (Channel.EMAIL, "distributor contact"),
            },
        ),
        (
            "partner_admin",
            {
                (Channel.INBOX, "organization contact"),
                (Channel.INBOX, "partner_admin"),
                (Channel.INBOX, "distributor contact"),
                (Channel.EMAIL, "organization contact"),
                (Channel.EMAIL, "partner@example.com"),
                (Channel.EMAIL, "distributor contact"),
            },
        ),
        (
            "dist_viewer",
            {
                (Channel.INBOX, "organization contact"),
                (Channel.INBOX, "partner contact"),
                (Channel.INBOX, "dist_admin"),
                (Channel.EMAIL, "organization contact"),
                (Channel.EMAIL, "partner contact"),
                (Channel.EMAIL, "dist@example.com"),
            },
        ),
    ],
)
def test_recipients_are_shown_to_their_own_tenant_and_to_staff(
    world, api, in_use, run_at, person, expected
):
    run_at(local_midnight(DUE_DAYS[1]))
    assert recipients(api(getattr(world, person)).get(NOTIFICATIONS)) == expected


def test_a_masked_recipient_is_not_in_the_errors_either(world, api, in_use, run_at, settings):
    settings.EMAIL_BACKEND = REFUSING
    settings.NOTICE_MAX_ATTEMPTS = 1
    run_at(local_midnight(DUE_DAYS[1]))

    def partner_email(person):
        notice = by_number(api(getattr(world, person)).get(NOTIFICATIONS))[1]
        return next(
            d
            for d in notice["deliveries"]
            if d["channel"] == Channel.EMAIL and "partner" in d["recipient"]
        )

    own = partner_email("partner_admin")
    assert own["state"] == "failed"
    assert "partner@example.com" in own["last_error"]
    assert "partner@example.com" in own["attempt_log"][0]["detail"]
    other = partner_email("org_admin")
    assert other["recipient"] == "partner contact"
    assert "partner@example.com" not in other["last_error"]
    assert "partner contact" in other["last_error"]
    assert "partner@example.com" not in other["attempt_log"][0]["detail"]


# --- The license view's notices ------------------------------------------------------


def test_the_license_view_lists_each_delivery_and_each_undecided_notice(
    world, api, history, dead_url
):
    body = api(world.staff).get(f"/api/v1/licenses/{history.pk}/").json()
    lines = body["notifications"]
    assert [(line["number"], line["state"]) for line in lines if line["number"] != 1] == [
        (2, "skipped"),
        (3, "skipped"),
        *[(4, "sent")] * 7,
        (5, "pending"),
        (6, "pending"),
    ]
    assert Counter(line["state"] for line in lines if line["number"] == 1) == {
        "sent": 7,
        "failed": 1,
    }
    assert [line["number"] for line in lines][:8] == [1] * 8
    assert [line["due"] for line in lines] == sorted(line["due"] for line in lines)
    first = {(line["channel"], line["recipient"]) for line in lines if line["number"] == 1}
    assert first == {*ALL_RECIPIENTS, (Channel.WEBHOOK, dead_url)}
    for line in lines:
        if line["state"] in ("skipped", "pending"):
            assert line["channel"] is None and line["recipient"] is None
            assert line["sent_at"] is None
        elif line["state"] == "sent":
            assert line["sent_at"] is not None
    assert {line["due"] for line in lines if line["number"] == 4} == {"2027-06-30"}


def test_the_license_view_masks_the_other_tenants_recipients(world, api, history):
    lines = api(world.org_admin).get(f"/api/v1/licenses/{history.pk}/").json()["notifications"]
    fourth = {(line["channel"], line["recipient"]) for line in lines if line["number"] == 4}
    assert fourth == {
        (Channel.INBOX, "org_admin"),
        (Channel.INBOX, "partner contact"),
        (Channel.INBOX, "distributor contact"),
        (Channel.EMAIL, "org_admin@example.com"),
        (Channel.EMAIL, "org@example.com"),
        (Channel.EMAIL, "partner contact"),
        (Channel.EMAIL, "distributor contact"),
    }
    webhook = [line for line in lines if line["channel"] == Channel.WEBHOOK]
    assert [(w["number"], w["state"], w["recipient"]) for w in webhook] == [
        (1, "failed", "partner contact")
    ]


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        ("partner_admin", True),
        ("staff", True),
        ("partner_viewer", False),
        ("staff_viewer", False),
        ("org_admin", False),
    ],
)
def test_a_webhook_url_is_shown_only_to_whom_the_tenant_row_shows_it(
    world, api, history, dead_url, person, shown
):
    """The URL of a webhook delivery (credentials often ride in it) is for the tenant's
    admins and staff admins, in the notices list and in the license view alike."""
    user = getattr(world, person)
    notice = by_number(api(user).get(NOTIFICATIONS))[1]
    listed = [d["recipient"] for d in notice["deliveries"] if d["channel"] == Channel.WEBHOOK]
    lines = api(user).get(f"/api/v1/licenses/{history.pk}/").json()["notifications"]
    viewed = [line["recipient"] for line in lines if line["channel"] == Channel.WEBHOOK]
    expected = dead_url if shown else "partner contact"
    assert listed == viewed == [expected]
    assert dead_url.split("//")[1] not in str(notice) or shown


def test_the_license_view_after_an_action_shows_the_notices_too(world, api, history):
    response = api(world.dist_admin).post(
        f"/api/v1/licenses/{history.pk}/deny/", {"reason": "unpaid"}
    )
    assert response.status_code == 200, response.content
    lines = response.json()["notifications"]
    assert len(lines) == 8 + 2 + 7 + 2
    assert ("email", "dist@example.com") in {(line["channel"], line["recipient"]) for line in lines}
    assert ("email", "organization contact") in {
        (line["channel"], line["recipient"]) for line in lines
    }


# --- The inbox -------------------------------------------------------------------------


def test_the_inbox_holds_the_users_own_notices_newest_first(world, api, history):
    items = rows(api(world.org_admin).get(INBOX))
    assert [(item["number"], item["license"], item["key"]) for item in items] == [
        (4, history.pk, history.key),
        (1, history.pk, history.key),
    ]
    notice = Notice.objects.get(license=history, number=4)
    expected = messages.render(notice, "en")
    assert items[0]["subject"] == expected.subject and items[0]["text"] == expected.text
    assert items[0]["due"] == "2027-06-30" and items[0]["read_at"] is None
    assert dt.datetime.fromisoformat(items[0]["created"]) == notice.decided_at
    assert set(items[0]) == {
        "id",
        "license",
        "key",
        "number",
        "due",
        "subject",
        "text",
        "superseded",
        "read_at",
        "created",
    }
    assert items[0]["superseded"] is False
    # everyone has only their own: staff too, and the partner's and distributor's admins
    assert [item["number"] for item in rows(api(world.partner_admin).get(INBOX))] == [4, 1]
    assert rows(api(world.staff).get(INBOX)) == []
    assert rows(api(world.org_viewer).get(INBOX)) == []  # notices go to the admins
    assert rows(api(world.other_org_admin).get(INBOX)) == []


def test_the_inbox_takes_the_same_queries_for_more_items(
    world, api, in_use, run_at, django_assert_max_num_queries
):
    client = api(world.org_admin)
    run_at(local_midnight(DUE_DAYS[1]))
    client.get(NOTIFICATIONS)  # the token's first use notes it (one UPDATE, then not for a minute)
    with CaptureQueriesContext(connection) as one:
        assert len(rows(client.get(INBOX))) == 1
    make_in_use(world, location=world.shop)
    for number in (2, 3, 4):
        run_at(local_midnight(DUE_DAYS[number]))
    # token with its user, membership, count, page, assignments, their locations
    with django_assert_max_num_queries(6):
        assert len(rows(client.get(INBOX))) == 4 + 3
    with CaptureQueriesContext(connection) as seven:
        rows(client.get(INBOX))
    assert len(seven) == len(one)


def test_the_inbox_speaks_the_users_language(world, api, in_use, run_at):
    Membership.objects.filter(user=world.org_admin).update(language="es")
    run_at(local_midnight(DUE_DAYS[3]))
    [item] = rows(api(world.org_admin).get(INBOX))
    notice = Notice.objects.get(license=in_use, number=3)
    assert item["subject"] == messages.render(notice, "es").subject
    assert item["subject"].startswith("Su licencia Wi-Fi")
    [partner_item] = rows(api(world.partner_admin).get(INBOX))
    assert partner_item["subject"].startswith("Your Wi-Fi license")


def test_marking_read_keeps_the_first_time_and_filters_unread(world, api, history):
    client = api(world.org_admin)
    newest, oldest = rows(client.get(INBOX))
    first_read = dt.datetime(2027, 7, 1, 9, 30, tzinfo=dt.UTC)
    with time_machine.travel(first_read, tick=False):
        response = client.post(f"{INBOX}{oldest['id']}/read/")
    assert response.status_code == 200, response.content
    assert dt.datetime.fromisoformat(response.json()["read_at"]) == first_read
    assert response.json()["subject"] == oldest["subject"]
    with time_machine.travel(first_read + dt.timedelta(days=1), tick=False):
        again = client.post(f"{INBOX}{oldest['id']}/read/")
    assert again.status_code == 200
    assert dt.datetime.fromisoformat(again.json()["read_at"]) == first_read
    assert [item["id"] for item in rows(client.get(INBOX, {"unread": "true"}))] == [newest["id"]]
    assert [item["id"] for item in rows(client.get(INBOX, {"unread": "false"}))] == [oldest["id"]]
    assert client.get(INBOX, {"unread": "maybe"}).status_code == 400


def test_another_users_inbox_item_is_not_found(world, api, history):
    item = rows(api(world.org_admin).get(INBOX))[0]
    for person in ("partner_admin", "staff", "org_viewer", "other_org_admin"):
        client = api(getattr(world, person))
        assert client.post(f"{INBOX}{item['id']}/read/").status_code == 404, person
        assert client.get(f"{INBOX}{item['id']}/").status_code == 404, person
    assert Delivery.objects.get(pk=item["id"]).read_at is None
    assert api(world.gateway).get(INBOX).status_code == 403
    assert api(world.gateway).post(f"{INBOX}{item['id']}/read/").status_code == 403
    assert api().post(f"{INBOX}{item['id']}/read/").status_code == 401


def test_a_viewer_reads_and_marks_its_own_inbox(world, api, history):
    notice = Notice.objects.get(license=history, number=4)
    own = Delivery.objects.create(
        notice=notice,
        channel=Channel.INBOX,
        recipient="org_viewer",
        user=world.org_viewer,
        tenant_type="organization",
        tenant_id=world.org.pk,
        state=DeliveryState.SENT,
        sent_at=notice.decided_at,
    )
    client = api(world.org_viewer)
    assert [item["id"] for item in rows(client.get(INBOX))] == [own.pk]
    assert client.post(f"{INBOX}{own.pk}/read/").status_code == 200
    own.refresh_from_db()
    assert own.read_at is not None


def test_the_inbox_is_read_only_but_for_marking_read(world, api, history):
    item = rows(api(world.org_admin).get(INBOX))[0]
    client = api(world.org_admin)
    assert client.post(INBOX, {}).status_code == 405
    assert client.patch(f"{INBOX}{item['id']}/", {"read_at": None}).status_code == 405
    assert client.delete(f"{INBOX}{item['id']}/").status_code == 405
    assert client.get(f"{INBOX}{item['id']}/read/").status_code == 405


# --- Tenants: notice language (webhook URL and secret: tenancy/tests/test_webhook_settings.py)


def test_a_tenant_sets_its_notice_language(world, api):
    client = api(world.dist_admin)
    path = f"/api/v1/distributors/{world.dist.pk}/"
    assert client.get(path).json()["language"] == "en"
    response = client.patch(path, {"language": "es"})
    assert response.status_code == 200, response.content
    assert response.json()["language"] == "es"
    assert Distributor.objects.get(pk=world.dist.pk).language == "es"
    assert client.patch(path, {"language": "fr"}).status_code == 400
    assert api(world.dist_viewer).patch(path, {"language": "en"}).status_code == 403
    assert api(world.partner_admin).patch(path, {"language": "en"}).status_code == 403
    assert Distributor.objects.get(pk=world.dist.pk).language == "es"
    created = api(world.partner_admin).post(
        "/api/v1/organizations/", {"name": "Hotel Sol", "language": "es"}
    )
    assert created.status_code == 201, created.content
    assert Organization.objects.get(pk=created.json()["id"]).language == "es"
    assert "webhook_secret" not in created.json()  # the partner is not its admin


def test_a_user_has_a_notice_language(world, api):
    response = api(world.org_admin).post(
        "/api/v1/users/",
        {
            "username": "recepcion",
            "email": "recepcion@example.com",
            "password": "a-Long-enough-passphrase-42",
            "tenant_type": "organization",
            "tenant_id": world.org.pk,
            "role": "admin",
            "language": "es",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["language"] == "es"
    assert Membership.objects.get(user__username="recepcion").language == "es"
    row = api(world.org_viewer).get(f"/api/v1/users/{response.json()['id']}/").json()
    assert row["language"] == "es"
    assert (
        api(world.org_viewer).get(f"/api/v1/users/{world.org_viewer.pk}/").json()["language"]
        == "en"
    )
    bad = api(world.org_admin).post(
        "/api/v1/users/",
        {
            "username": "other",
            "email": "other@example.com",
            "password": "a-Long-enough-passphrase-42",
            "tenant_type": "organization",
            "tenant_id": world.org.pk,
            "role": "viewer",
            "language": "de",
        },
    )
    assert bad.status_code == 400 and "language" in bad.json()["errors"]
