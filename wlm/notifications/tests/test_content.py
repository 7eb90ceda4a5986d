"""What a notice says and to whom: names are text, never markup (inbox page, htmx answer,
HTML e-mail); the message is written once when the notice is decided, with the days
really left then, and kept as sent; a renewed license's old notices are superseded;
recipients are told apart per tenant, so one tenant cannot take another's delivery."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wlm.licenses import lifecycle
from wlm.licenses.models import License
from wlm.locations.models import Location
from wlm.notifications import messages, recipients, worker
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice
from wlm.notifications.tests.conftest import DUE_DAYS, END, local_midnight, make_in_use
from wlm.notifications.tests.hooks import verify
from wlm.tenancy.models import Membership, Organization, Partner, TenantType

pytestmark = pytest.mark.django_db


PAYLOAD = "Mercado Central <img src=x onerror=alert(document.domain)>"
ESCAPED = "Mercado Central &lt;img src=x onerror=alert(document.domain)&gt;"
INBOX = reverse("notifications:inbox")
API_INBOX = "/api/v1/inbox/"
T1 = local_midnight(DUE_DAYS[1])  # notice 1 on time: 30 days before the end
LATE = local_midnight(END - dt.timedelta(days=20)) + dt.timedelta(hours=1)  # 20 days left


def rename_organization(world, name: str) -> None:
    Organization.objects.filter(pk=world.org.pk).update(name=name)


def inbox_item(user) -> Delivery:
    return Delivery.objects.filter(channel=Channel.INBOX, user=user).latest("id")


def api_rows(api, user) -> list[dict]:
    response = api(user).get(API_INBOX)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def page(client, user) -> str:
    client.force_login(user)
    response = client.get(INBOX)
    assert response.status_code == 200
    return response.content.decode()


# --- names are text, never markup ------------------------------------------------------


@pytest.mark.parametrize("person", ["partner_admin", "dist_admin", "org_admin"])
def test_an_organization_name_with_markup_is_escaped_in_the_inbox(
    client, world, in_use, run_at, person
):
    rename_organization(world, PAYLOAD)
    run_at(T1)
    with time_machine.travel(T1 + dt.timedelta(hours=1), tick=False):
        html = page(client, getattr(world, person))
    assert ESCAPED in html
    assert "<img" not in html and "onerror=alert" not in html.replace(ESCAPED, "")


def test_the_htmx_answer_of_mark_read_escapes_the_name(client, world, in_use, run_at):
    rename_organization(world, PAYLOAD)
    run_at(T1)
    item = inbox_item(world.partner_admin)
    with time_machine.travel(T1 + dt.timedelta(hours=1), tick=False):
        client.force_login(world.partner_admin)
        response = client.post(
            reverse("notifications:read", args=[item.pk]), headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-id="{item.pk}" data-read="true"' in html
    assert ESCAPED in html and "<img" not in html


def test_the_html_email_escapes_the_name_and_the_text_part_keeps_it(world, in_use, smtp, run_at):
    rename_organization(world, PAYLOAD)
    Location.objects.filter(pk=world.hotel.pk).update(name="Hotel <b>Sol</b> & Spa")
    run_at(T1)
    assert len(smtp.accepted) == 4
    for mail in smtp.accepted:
        html, text = mail.part("text/html"), mail.part("text/plain")
        assert ESCAPED in html and "<img" not in html
        assert "Hotel &lt;b&gt;Sol&lt;/b&gt; &amp; Spa" in html and "<b>Sol" not in html
        assert f"of {PAYLOAD} " in text  # plain text: shown as typed, not as markup
        assert "Locations: Hotel <b>Sol</b> & Spa" in text


def test_the_api_inbox_gives_the_text_as_typed(world, api, in_use, run_at):
    rename_organization(world, PAYLOAD)
    run_at(T1)
    [item] = api_rows(api, world.partner_admin)
    assert f"of {PAYLOAD} " in item["text"]  # JSON: the reader escapes where it shows it


# --- the days really left, kept as sent -------------------------------------------------


def test_a_notice_caught_up_late_tells_the_days_left_at_sending(world, in_use, smtp, run_at):
    Membership.objects.filter(user=world.org_admin).update(language="es")
    Partner.objects.filter(pk=world.partner.pk).update(language="es")
    result = run_at(LATE)  # the notifier was down when notice 1 was due, 30 days before
    assert result.sent == 1 and result.delivered == 4
    english = f"Your Wi-Fi license {in_use.key} ends on {END} (in 20 days)"
    spanish = f"Su licencia Wi-Fi {in_use.key} termina el {END} (dentro de 20 días)"
    for address, subject, words in (
        ("org@example.com", english, "in 20 days"),
        ("dist@example.com", english, "in 20 days"),
        ("partner@example.com", spanish, "dentro de 20 días"),
        ("org_admin@example.com", spanish, "dentro de 20 días"),
    ):
        (mail,) = smtp.to(address)
        # (a long non-ASCII subject is folded: the parser keeps the space of the fold)
        assert mail.message["Subject"].strip() == subject, address
        for body in (mail.part("text/plain"), mail.part("text/html")):
            assert words in body, address
            assert "30" not in body.replace(in_use.key, ""), address
            assert "un mes" not in body and "one month" not in body


def test_the_inbox_and_the_api_tell_the_days_left_at_sending(client, world, api, in_use, run_at):
    Membership.objects.filter(user=world.partner_admin).update(language="es")
    run_at(LATE)
    later = LATE + dt.timedelta(days=3)  # read days later: still what was sent
    with time_machine.travel(later, tick=False):
        [english] = api_rows(api, world.org_admin)
        [spanish] = api_rows(api, world.partner_admin)
        html = page(client, world.org_admin)
    assert english["subject"] == f"Your Wi-Fi license {in_use.key} ends on {END} (in 20 days)"
    assert f"ends on {END}, in 20 days." in english["text"]
    assert spanish["subject"].endswith("(dentro de 20 días)")
    assert f"termina el {END}, dentro de 20 días." in spanish["text"]
    assert english["subject"] in html and "in 20 days" in html
    assert "in 17 days" not in html and "in 30 days" not in html


def test_a_webhook_subject_tells_the_days_left_at_sending(world, in_use, hooks, run_at):
    url = hooks.url("/hooks/partner")
    Partner.objects.filter(pk=world.partner.pk).update(webhook_url=url)
    run_at(LATE)
    (hit,) = hooks.hits
    body = json.loads(hit.body)
    assert body["subject"] == f"Your Wi-Fi license {in_use.key} ends on {END} (in 20 days)"
    assert body["notice"] == {
        "number": 1,
        "due": "2027-06-01",
        "end_date": "2027-07-01",
        "meaning": "first",
    }


@pytest.mark.parametrize(
    ("language", "days", "subject_end", "text_words"),
    [
        ("en", 1, "ends tomorrow, 2027-07-01", "ends on 2027-07-01, tomorrow."),
        ("es", 1, "termina mañana, 2027-07-01", "termina el 2027-07-01, mañana."),
        ("en", 2, "ends on 2027-07-01 (in 2 days)", "ends on 2027-07-01, in 2 days."),
        ("es", 2, "termina el 2027-07-01 (dentro de 2 días)", "el 2027-07-01, dentro de 2 días."),
        ("en", 30, "ends on 2027-07-01 (in 30 days)", "ends on 2027-07-01, in 30 days."),
    ],
)
def test_subject_and_text_say_the_days_left_in_words(
    world, api, in_use, run_at, language, days, subject_end, text_words
):
    Membership.objects.filter(user=world.org_admin).update(language=language)
    run_at(local_midnight(END - dt.timedelta(days=days)) + dt.timedelta(hours=2))
    [item] = api_rows(api, world.org_admin)
    assert item["subject"].endswith(subject_end)
    assert text_words in item["text"]


def test_renaming_after_sending_does_not_change_what_was_sent(client, world, api, in_use, run_at):
    run_at(T1)
    [before] = api_rows(api, world.org_admin)
    assert "of Org ends on" in before["text"] and "Locations: Hotel\n" in before["text"]
    rename_organization(world, "Renamed Org")
    Location.objects.filter(pk=world.hotel.pk).update(name="Renamed Hotel")
    with time_machine.travel(T1 + dt.timedelta(days=5), tick=False):
        [after] = api_rows(api, world.org_admin)
        html = page(client, world.org_admin)
    assert after["text"] == before["text"] and after["subject"] == before["subject"]
    assert "of Org ends on" in html and "Renamed Org ends" not in html
    assert "Locations: Hotel</p>" in html and "Renamed Hotel" not in html


def test_an_email_retried_after_a_rename_sends_the_message_as_decided(world, in_use, smtp, run_at):
    smtp.answer = "451 4.3.0 Try later"
    run_at(T1)
    assert smtp.accepted == []
    rename_organization(world, "Renamed Org")
    smtp.answer = "250 OK"
    assert run_at(T1 + dt.timedelta(hours=1)).delivered == 4
    for mail in smtp.accepted:
        assert "of Org ends on" in mail.part("text/plain")
        assert "Renamed" not in mail.part("text/html")
        assert mail.message["Subject"].endswith("(in 30 days)")


def test_a_delivery_written_before_messages_were_stored_is_rendered_as_of_its_decision(
    world, api, in_use, run_at
):
    run_at(LATE)
    notice = Notice.objects.get(license=in_use, number=1)
    old = Delivery.objects.create(  # as rows written before the message was stored
        notice=notice,
        channel=Channel.INBOX,
        recipient="org_viewer",
        user=world.org_viewer,
        tenant_type=TenantType.ORGANIZATION,
        tenant_id=world.org.pk,
        state=DeliveryState.SENT,
        sent_at=notice.decided_at,
    )
    assert old.subject == old.text == old.html == ""
    with time_machine.travel(LATE + dt.timedelta(days=4), tick=False):
        [item] = api_rows(api, world.org_viewer)
    assert item["subject"].endswith("(in 20 days)") and "in 20 days." in item["text"]


# --- a renewed license's old notices ----------------------------------------------------


def test_a_renewed_licenses_old_notices_are_shown_superseded(client, world, api, in_use, run_at):
    run_at(T1)
    [item] = api_rows(api, world.partner_admin)
    assert item["superseded"] is False
    assert "Superseded" not in page(client, world.partner_admin)
    renewed_at = T1 + dt.timedelta(days=2)
    with time_machine.travel(renewed_at, tick=False):
        lifecycle.renew(world.dist_admin, in_use.pk, 1)
    with time_machine.travel(renewed_at + dt.timedelta(hours=1), tick=False):
        [item] = api_rows(api, world.partner_admin)
        html = page(client, world.partner_admin)
    assert item["superseded"] is True
    assert item["subject"].endswith("(in 30 days)")  # what was sent stays as it was sent
    assert "Superseded: the license was renewed (now ends 2028-07-01)" in html
    # the new cycle's notices are not superseded
    run_at(local_midnight(dt.date(2028, 6, 1)))
    with time_machine.travel(local_midnight(dt.date(2028, 6, 1)), tick=False):
        newest, old = api_rows(api, world.partner_admin)
        html = page(client, world.partner_admin)
    assert (newest["superseded"], old["superseded"]) == (False, True)
    assert html.count("Superseded: the license was renewed") == 1


# --- one delivery per tenant, never merged across tenants -------------------------------


def test_recipients_are_told_apart_per_tenant(world, in_use):
    Partner.objects.filter(pk=world.partner.pk).update(
        email="ORG_ADMIN@example.com", webhook_url="https://hooks.example/wlm"
    )
    Organization.objects.filter(pk=world.org.pk).update(
        email="org_admin@EXAMPLE.com", webhook_url="HTTPS://HOOKS.example/wlm"
    )
    license = License.objects.select_related("organization", "partner", "distributor")
    found = recipients.for_licenses([license.get(pk=in_use.pk)])[in_use.pk]
    external = sorted(
        (r.channel, r.tenant_type, r.address) for r in found if r.channel != Channel.INBOX
    )
    assert external == [
        (Channel.EMAIL, TenantType.DISTRIBUTOR, "dist@example.com"),
        # the admin's address and the organization's contact are one mailbox of one tenant
        (Channel.EMAIL, TenantType.ORGANIZATION, "org_admin@example.com"),
        (Channel.EMAIL, TenantType.PARTNER, "ORG_ADMIN@example.com"),
        (Channel.WEBHOOK, TenantType.ORGANIZATION, "HTTPS://HOOKS.example/wlm"),
        (Channel.WEBHOOK, TenantType.PARTNER, "https://hooks.example/wlm"),
    ]


@pytest.mark.parametrize("spelling", [str.upper, str], ids=["other case", "same"])
def test_an_organization_cannot_take_over_its_partners_webhook(
    world, in_use, hooks, run_at, spelling
):
    url = hooks.url("/hooks/partner")
    Partner.objects.filter(pk=world.partner.pk).update(webhook_url=url)
    # the same URL (scheme and host spelt otherwise, or exactly the same) set by the customer
    scheme, rest = url.split("://")
    same = f"{spelling(scheme)}://{rest}"
    Organization.objects.filter(pk=world.org.pk).update(webhook_url=same)
    result = run_at(T1)
    assert result.delivered == 4 + 2
    webhooks = Delivery.objects.filter(channel=Channel.WEBHOOK)
    assert sorted(webhooks.values_list("tenant_type", "recipient")) == [
        (TenantType.ORGANIZATION, same),
        (TenantType.PARTNER, url),
    ]
    assert [h.path for h in hooks.hits] == ["/hooks/partner", "/hooks/partner"]
    partner = Partner.objects.get(pk=world.partner.pk).webhook_secret
    org = Organization.objects.get(pk=world.org.pk).webhook_secret
    signed_by = []
    for hit in hooks.hits:
        header = hit.headers["wlm-signature"]
        signed_by += [
            name
            for name, secret in (("partner", partner), ("org", org))
            if verify(secret, header, hit.body, now=T1.timestamp())
        ]
    assert sorted(signed_by) == ["org", "partner"]  # each with its own secret


def test_each_tenant_gets_its_own_notice_email(world, in_use, smtp, run_at):
    # the partner's contact is the organization's address, spelt otherwise
    Partner.objects.filter(pk=world.partner.pk).update(email="ORG@example.com")
    run_at(T1)
    delivered = sorted(
        Delivery.objects.filter(channel=Channel.EMAIL).values_list("tenant_type", "recipient")
    )
    assert delivered == [
        (TenantType.DISTRIBUTOR, "dist@example.com"),
        (TenantType.ORGANIZATION, "org@example.com"),
        (TenantType.ORGANIZATION, "org_admin@example.com"),
        (TenantType.PARTNER, "ORG@example.com"),
    ]
    assert sorted(m.rcpt_tos[0] for m in smtp.accepted) == sorted(r for _, r in delivered)
    assert all(d.state == DeliveryState.SENT for d in Delivery.objects.all())


def test_messages_say_days_left_in_words():
    assert messages.days_left_words(2, "en") == "in 2 days"
    assert messages.days_left_words(1, "en") == "tomorrow"
    assert messages.days_left_words(0, "en") == "today"
    assert messages.days_left_words(2, "es") == "dentro de 2 días"
    assert messages.days_left_words(1, "es") == "mañana"
    assert messages.days_left_words(0, "es") == "hoy"
    assert messages.days_left_words(20, "fr") == "in 20 days"  # other languages: English
    assert re.fullmatch(r"in \d+ days", messages.days_left_words(30, "en"))


def test_deciding_writes_the_messages_without_a_query_per_license(world, in_use):
    def decide_queries() -> int:
        with (
            time_machine.travel(T1 + dt.timedelta(days=1), tick=False),
            CaptureQueriesContext(connection) as queries,
        ):
            worker.decide_due(worker.PassResult(), set())
        # (each license's cut-off has its own savepoint: not a query for the messages)
        return len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]])

    one = decide_queries()
    Delivery.objects.all().delete()
    Notice.objects.filter(license=in_use).update(state="scheduled", decided_at=None)
    make_in_use(world, location=world.shop)
    assert decide_queries() == one
    assert Delivery.objects.exclude(subject="").count() == 2 * 7
