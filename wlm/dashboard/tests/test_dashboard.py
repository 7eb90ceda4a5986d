"""The dashboard: licenses by status, those ending soon, recent notices and the pending
license requests (a distributor's and staff's queue; the renewals and upgrades asked for
a partner's or organization's licenses) — all through the tenancy door."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wlm.licenses import current, services
from wlm.licenses.models import License, LicenseRequest, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.notifications import worker
from wlm.notifications.tests.conftest import DUE_DAYS, local_midnight, make_in_use

pytestmark = pytest.mark.django_db

S = LicenseStatus
DASHBOARD = reverse("dashboard")
TODAY = dt.datetime(2026, 6, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(TODAY, tick=False):
        yield


def html_of(client, user) -> str:
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def count_on_card(html: str, status: str) -> int:
    match = re.search(rf'data-testid="dashboard-status-{status}" data-count="(\d+)"', html)
    return int(match.group(1))


def section(html: str, testid: str) -> str:
    match = re.search(rf'<section[^>]*data-testid="{testid}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def foreign_license(world, status) -> License:
    """A license of the other distributor, for the other organization's office."""
    license = make_license(world, status)
    License.objects.filter(pk=license.pk).update(
        distributor=world.other_dist,
        partner=world.other_partner,
        location=world.other_office,
        organization=world.other_org if status != S.PENDING_PROVISION else None,
    )
    license.assignments.update(location=world.other_office)
    current.refresh([world.hotel, world.other_office])  # test data moved past the services
    return license


def request_for(world, location=None):
    terms = services.Terms(
        location=location or world.shop, distributor=world.dist, years=2, payment="monthly", aps=3
    )
    return services.create_request(world.partner_admin, terms)


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_cards_count_the_licenses_each_tenant_sees(client, world):
    make_license(world, S.IN_USE)
    make_license(world, S.CONTRACT_FINALIZED)
    make_license(world, S.PENDING_PROVISION)
    foreign_license(world, S.IN_USE)
    expected = {
        "staff": {S.IN_USE: 2, S.CONTRACT_FINALIZED: 1, S.PENDING_PROVISION: 1},
        "dist_admin": {S.IN_USE: 1, S.CONTRACT_FINALIZED: 1, S.PENDING_PROVISION: 1},
        "partner_viewer": {S.IN_USE: 1, S.CONTRACT_FINALIZED: 1, S.PENDING_PROVISION: 1},
        # an organization sees its licenses from Send Key on
        "org_viewer": {S.IN_USE: 1, S.CONTRACT_FINALIZED: 1},
        "other_org_admin": {S.IN_USE: 1},
        "other_dist_admin": {S.IN_USE: 1},
    }
    for person, counts in expected.items():
        html = html_of(client, getattr(world, person))
        shown = {status: count_on_card(html, status) for status in S.values}
        assert shown == {status: counts.get(status, 0) for status in S.values}, person


def test_each_card_links_to_the_filtered_licenses_list(client, world):
    html = html_of(client, world.org_admin)
    for status in S.values:
        card = re.search(rf'data-testid="dashboard-status-{status}".*?</article>', html, re.S)
        assert f'href="{reverse("licenses:list")}?status={status}"' in card.group(0)


def test_licenses_ending_in_the_next_30_days(client, world):
    soon = make_license(world, S.IN_USE, start=dt.date(2024, 7, 10), years=2)  # ends 07-10
    make_license(world, S.IN_USE, start=dt.date(2024, 8, 1), years=2)  # ends 08-01: later
    make_license(world, S.CONTRACT_FINALIZED, start=dt.date(2024, 6, 1), years=2)  # ended
    foreign = foreign_license(world, S.IN_USE)
    License.objects.filter(pk=foreign.pk).update(end_date=dt.date(2026, 7, 1))
    current.refresh_all()  # its stored copies, past the services
    block = section(html_of(client, world.org_viewer), "ending-soon")
    assert re.findall(r'data-key="([^"]+)"', block) == [soon.key]
    assert "2026-07-10" in block and "Org" in block and "In Use" in block
    link = f"{reverse('licenses:list')}?end_after=2026-06-20&amp;end_before=2026-07-20"
    assert link in block
    staff_block = section(html_of(client, world.staff), "ending-soon")
    assert re.findall(r'data-key="([^"]+)"', staff_block) == [foreign.key, soon.key]


@pytest.fixture
def noticed(world):
    """A license in use at the hotel whose first notice went out (inbox of the admins)."""
    license = make_in_use(world)
    with time_machine.travel(local_midnight(DUE_DAYS[1]), tick=False):
        worker.run_pass()
    return license


def test_recent_notices_come_from_the_users_inbox(client, world, noticed):
    with time_machine.travel(local_midnight(DUE_DAYS[1]) + dt.timedelta(hours=1), tick=False):
        block = section(html_of(client, world.org_admin), "recent-notices")
    assert 'data-source="inbox"' in block
    assert f"Your Wi-Fi license {noticed.key} ends on 2027-07-01 (in 30 days)" in block
    assert reverse("notifications:inbox") in block


def test_without_an_inbox_recent_notices_are_those_of_visible_licenses(client, world, noticed):
    with time_machine.travel(local_midnight(DUE_DAYS[1]) + dt.timedelta(hours=1), tick=False):
        for person in ("org_viewer", "staff"):
            block = section(html_of(client, getattr(world, person)), "recent-notices")
            assert 'data-source="notices"' in block, person
            assert noticed.key in block and "Notice 1" in block, person
        outsider = section(html_of(client, world.other_org_admin), "recent-notices")
    assert noticed.key not in outsider and "No notices yet." in outsider


def test_a_distributor_sees_its_pending_requests(client, world):
    first = request_for(world)
    second = request_for(world)
    decided = request_for(world)
    services.reject_request(world.dist_admin, decided.pk, "no budget")
    block = section(html_of(client, world.dist_viewer), "pending-requests")
    assert 'data-count="2"' in block
    assert set(re.findall(r'<tr data-id="(\d+)"', block)) == {str(first.pk), str(second.pk)}
    assert f"{reverse('requests:list')}?state=pending" in block
    assert 'data-count="2"' in section(html_of(client, world.staff), "pending-requests")
    assert 'data-count="0"' in section(html_of(client, world.other_dist_admin), "pending-requests")


def test_the_pending_requests_are_the_newest_five_and_their_count(client, world):
    made = [request_for(world) for _ in range(7)]  # the same time (a frozen clock): by id
    services.reject_request(world.dist_admin, made[3].pk, "no budget")
    pending = LicenseRequest.objects.filter(state="pending", distributor=world.dist)
    newest = pending.order_by("-created", "-id").values_list("pk", flat=True)[:5]
    block = section(html_of(client, world.dist_viewer), "pending-requests")
    assert 'data-count="6"' in block
    assert re.findall(r'<tr data-id="(\d+)"', block) == [str(pk) for pk in newest]


@pytest.mark.parametrize("person", ["org_admin", "partner_admin", "org_viewer"])
def test_a_partner_or_organization_sees_the_changes_asked_for_its_licenses(client, world, person):
    """Not the queue: the renewals and upgrades of its licenses waiting for the
    distributor, each naming its license; its requests for new licenses are on the
    requests page."""
    request_for(world)  # a new license: not here
    license = make_license(world, S.IN_USE)
    renewal = services.request_renewal(world.partner_admin, license, 2)
    foreign = foreign_license(world, S.IN_USE)
    foreign.refresh_from_db()
    services.request_renewal(world.other_partner_admin, foreign, 1)  # another tenant's
    block = section(html_of(client, getattr(world, person)), "pending-requests")
    assert 'data-count="1"' in block
    assert re.findall(r'<tr data-id="(\d+)"', block) == [str(renewal.pk)]
    assert license.key in block and "Renewal by 2 years" in block
    assert "?state=pending&amp;kind=renewal&amp;kind=upgrade" in block
    assert section(html_of(client, world.gateway), "pending-requests") == ""


def test_the_dashboard_takes_the_same_queries_for_more_rows(
    client, world, noticed, django_assert_max_num_queries
):
    request_for(world)
    moment = local_midnight(DUE_DAYS[1]) + dt.timedelta(hours=1)
    counts = {}
    for person in ("staff", "dist_admin", "org_admin"):
        with time_machine.travel(moment, tick=False):
            client.force_login(getattr(world, person))
            with CaptureQueriesContext(connection) as few:
                assert client.get(DASHBOARD).status_code == 200
        counts[person] = len(few)
    for _ in range(6):
        make_license(world, S.IN_USE, start=dt.date(2026, 7, 10), years=1)
        request_for(world)
    with time_machine.travel(local_midnight(DUE_DAYS[2]), tick=False):
        worker.run_pass()
    for person, before in counts.items():
        with time_machine.travel(moment + dt.timedelta(days=16), tick=False):
            client.force_login(getattr(world, person))
            with django_assert_max_num_queries(before):
                assert client.get(DASHBOARD).status_code == 200
        assert before <= 21, person
