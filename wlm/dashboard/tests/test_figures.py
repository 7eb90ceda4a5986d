"""The dashboard's figures of issue 20: the licenses ending per month by status (a chart
with its text alternative), the renewals due in 30/60/90 days, the licenses waiting for
their devices to start and those near their limit — for each tenant type, through the
tenancy door, each figure linking to the licenses list filtered to the same rows."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wlm.conftest import provisioned_license
from wlm.connections import services as intake
from wlm.connections.models import PendingDevice
from wlm.connections.queries import StartProgress, start_progress
from wlm.dashboard import views
from wlm.licenses import current
from wlm.licenses.models import License, LicenseStatus, StartMode
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy.models import Membership

pytestmark = pytest.mark.django_db

S = LicenseStatus
DASHBOARD = reverse("dashboard")
LIST = reverse("licenses:list")
API_LIST = "/api/v1/licenses/"
NOW = dt.datetime(2026, 6, 20, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
PERSONS = ("staff", "dist_admin", "partner_viewer", "org_viewer", "other_org_admin")


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def page_of(client, user) -> str:
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def section(html: str, testid: str) -> str:
    match = re.search(rf'<section[^>]*data-testid="{testid}".*?</section>', html, re.S)
    assert match, testid
    return match.group(0)


def ending(world, status, end: dt.date, *, foreign=False) -> License:
    """A license of ``world`` (or of the other distributor, partner and organization)
    ending on ``end`` (test data written past the services)."""
    license = make_license(world, status)
    changes = {"end_date": end, "start_date": end.replace(year=end.year - 1)}
    if status not in (S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED):
        changes["start_date"] = None
    if foreign:
        changes.update(
            distributor=world.other_dist, partner=world.other_partner, organization=world.other_org
        )
    License.objects.filter(pk=license.pk).update(**changes)
    current.refresh_all()  # its stored copies, past the services
    license.refresh_from_db()
    return license


def api_count(api, user, url: str) -> int:
    """How many licenses the API list answers for the page URL's query."""
    query = urlsplit(html_lib.unescape(url)).query
    response = api(user).get(f"{API_LIST}?{query}")
    assert response.status_code == 200, response.content
    return response.json()["count"]


# --- The chart ------------------------------------------------------------------------


def chart_segments(html: str) -> dict[tuple[str, str], tuple[int, str]]:
    """{(month, status): (count, link)} of the chart's bars."""
    block = section(html, "ending-chart")
    found = {}
    for month, body in re.findall(
        r'<g class="chart-month" data-month="([\d-]+)"(.*?)</g>', block, re.S
    ):
        for url, status, count in re.findall(
            r'<a href="([^"]+)" aria-label="[^"]+" data-status="(\w+)" data-count="(\d+)">', body
        ):
            found[month, status] = (int(count), html_lib.unescape(url))
    return found


def table_cells(html: str) -> dict[tuple[str, str], tuple[int, str]]:
    """{(month, status): (count, link)} of the chart's table (its text alternative)."""
    block = section(html, "ending-chart")
    found = {}
    for month, row in re.findall(r'<tr data-month="([\d-]+)">(.*?)</tr>', block, re.S):
        for url, status, count in re.findall(
            r'<a href="([^"]+)" data-status="(\w+)">(\d+)</a>', row
        ):
            found[month, status] = (int(count), html_lib.unescape(url))
    return found


@pytest.fixture
def ending_licenses(world):
    """Licenses ending over the next year: two in use in July (one today), one denied
    in July, one in use in December, one in May 2027 (the 12th month), one past the
    window, one already ended, and another tenant's in use in July."""
    return {
        "today": ending(world, S.IN_USE, TODAY),
        "july": ending(world, S.IN_USE, dt.date(2026, 7, 31)),
        "denied": ending(world, S.ACCESS_DENIED, dt.date(2026, 7, 3)),
        "december": ending(world, S.IN_USE, dt.date(2026, 12, 1)),
        "last_month": ending(world, S.IN_USE, dt.date(2027, 5, 31)),
        "too_late": ending(world, S.IN_USE, dt.date(2027, 6, 1)),
        "ended": ending(world, S.CONTRACT_FINALIZED, TODAY - dt.timedelta(days=1)),
        "foreign": ending(world, S.IN_USE, dt.date(2026, 7, 15), foreign=True),
    }


def test_the_chart_counts_each_tenants_licenses_per_month_and_status(
    client, world, ending_licenses
):
    mine = {
        ("2026-06", S.IN_USE): 1,
        ("2026-07", S.IN_USE): 1,
        ("2026-07", S.ACCESS_DENIED): 1,
        ("2026-12", S.IN_USE): 1,
        ("2027-05", S.IN_USE): 1,
    }
    expected = {
        "staff": {**mine, ("2026-07", S.IN_USE): 2},
        "dist_admin": mine,
        "partner_viewer": mine,
        "org_viewer": mine,
        "other_org_admin": {("2026-07", S.IN_USE): 1},
    }
    for person in PERSONS:
        html = page_of(client, getattr(world, person))
        shown = {key: count for key, (count, _url) in chart_segments(html).items()}
        assert shown == expected[person], person
        months = re.findall(
            r'<g class="chart-month" data-month="([\d-]+)" data-total="(\d+)"', html
        )
        assert [month for month, _total in months] == [
            f"{2026 + (5 + i) // 12}-{(5 + i) % 12 + 1:02d}" for i in range(12)
        ], person
        totals = {month: int(total) for month, total in months}
        for month, total in totals.items():
            assert total == sum(n for (m, _s), n in expected[person].items() if m == month)
        assert f'data-total="{sum(expected[person].values())}"' in section(html, "ending-chart")


def test_each_bar_links_to_the_list_filtered_to_its_month_and_status(
    client, api, world, ending_licenses
):
    html = page_of(client, world.dist_admin)
    segments = chart_segments(html)
    count, url = segments["2026-06", S.IN_USE]
    assert url == f"{LIST}?status=in_use&end_after=2026-06-20&end_before=2026-06-30"  # from today
    count, url = segments["2026-07", S.ACCESS_DENIED]
    assert url == f"{LIST}?status=access_denied&end_after=2026-07-01&end_before=2026-07-31"
    for (month, status), (count, url) in segments.items():
        assert parse_qs(urlsplit(url).query)["status"] == [status]
        assert api_count(api, world.dist_admin, url) == count, (month, status)
    # the table's totals link to their month, whatever the status
    block = section(html, "ending-chart")
    month_links = {
        month: link.group(1)
        for month, row in re.findall(r'<tr data-month="([\d-]+)">(.*?)</tr>', block, re.S)
        if (link := re.search(r'<a href="([^"]+)" data-total="\d+">', row))
    }
    assert set(month_links) == {"2026-06", "2026-07", "2026-12", "2027-05"}  # months with any
    july = html_lib.unescape(month_links["2026-07"])
    assert july == f"{LIST}?end_after=2026-07-01&end_before=2026-07-31"
    assert api_count(api, world.dist_admin, july) == 2
    # a bar's name says its month, status and count
    assert 'aria-label="July 2026 · Access denied: 1"' in block


def test_the_chart_has_a_text_alternative_with_the_same_figures(client, world, ending_licenses):
    html = page_of(client, world.org_viewer)
    block = section(html, "ending-chart")
    svg = re.search(r"<svg[^>]*>", block).group(0)
    # a named group (an image's content would hide its links): title and description
    assert 'role="group"' in svg
    title_id = re.search(r'aria-labelledby="([^"]+)"', svg).group(1)
    desc_id = re.search(r'aria-describedby="([^"]+)"', svg).group(1)
    title = re.search(rf'<title id="{title_id}">(.*?)</title>', block, re.S).group(1)
    desc = re.search(rf'<desc id="{desc_id}">(.*?)</desc>', block, re.S).group(1)
    assert title == "Licenses ending per month, June 2026 to May 2027, by status"
    assert "5 licenses end in these 12 months." in desc
    assert "The most end in July 2026 (2)." in desc
    # the table holds every figure of the bars, with the same links
    assert table_cells(html) == chart_segments(html)
    assert re.search(r'<th scope="row">July 2026</th>', block)
    # the colours come from the style sheet: no style attribute in the SVG
    assert "style=" not in block


def test_months_and_text_in_spanish(client, world, ending_licenses):
    Membership.objects.filter(user=world.org_viewer).update(language="es")
    html = page_of(client, world.org_viewer)
    block = section(html, "ending-chart")
    labels = re.findall(r'class="chart-label"[^>]*>([^<]+)</text>', block)
    assert labels == [
        "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic", "Ene", "Feb", "Mar", "Abr", "May",
    ]  # fmt: skip
    assert '<th scope="row">julio de 2026</th>' in block
    assert "junio de 2026" in re.search(r"<title id=[^>]*>(.*?)</title>", block, re.S).group(1)
    years = re.findall(r'class="chart-year"[^>]*>(\d+)</text>', block)
    assert years == ["2026", "2027"]  # under the first month and under January


def test_an_empty_chart_says_so(client, world):
    html = page_of(client, world.org_viewer)
    block = section(html, "ending-chart")
    assert "<svg" not in block
    assert "No license ends in the next 12 months." in block


# --- Renewals due ---------------------------------------------------------------------


def test_renewals_due_in_30_60_and_90_days(client, api, world):
    ending(world, S.IN_USE, TODAY)  # today: due
    ending(world, S.ACCESS_DENIED, TODAY + dt.timedelta(days=30))
    ending(world, S.IN_USE, TODAY + dt.timedelta(days=31))
    ending(world, S.IN_USE, TODAY + dt.timedelta(days=90))
    ending(world, S.IN_USE, TODAY + dt.timedelta(days=91))  # later
    ending(world, S.CONTRACT_FINALIZED, TODAY - dt.timedelta(days=1))  # ended
    ending(world, S.IN_USE, TODAY + dt.timedelta(days=5), foreign=True)
    expected = {
        "staff": (3, 4, 5),
        "dist_admin": (2, 3, 4),
        "partner_viewer": (2, 3, 4),
        "org_viewer": (2, 3, 4),
        "other_org_admin": (1, 1, 1),
    }
    for person in PERSONS:
        user = getattr(world, person)
        block = section(page_of(client, user), "renewals-due")
        for days, count in zip((30, 60, 90), expected[person], strict=True):
            card = re.search(
                rf'data-testid="renewals-{days}" data-count="(\d+)">\s*<a href="([^"]+)"', block
            )
            assert int(card.group(1)) == count, (person, days)
            url = html_lib.unescape(card.group(2))
            until = (TODAY + dt.timedelta(days=days)).isoformat()
            assert url == (
                f"{LIST}?status=in_use&status=access_denied&end_after=2026-06-20&end_before={until}"
            )
            assert api_count(api, user, url) == count, (person, days)


# --- Waiting for their devices to start -----------------------------------------------


def devices(location, count: int, start: dt.datetime, prefix: str) -> list[dict]:
    return [
        {
            "location": str(location.pk),
            "device": f"{prefix}-{n}",
            "seen_at": (start + dt.timedelta(minutes=n)).isoformat(),
        }
        for n in range(count)
    ]


@pytest.fixture
def waiting(world):
    """Pending an automatic start: the shop's license with 3 devices seen, the hotel's
    with 1, a new location's with none; a fixed start at a fourth location; the other
    organization's office with 4 devices. Provisioned a day ago, devices this morning."""
    provisioned = NOW - dt.timedelta(days=1)
    lodge = Location.objects.create(
        organization=world.org, name="Lodge", sector="office", timezone="UTC", country="ES"
    )
    kiosk = Location.objects.create(
        organization=world.org, name="Kiosk", sector="retail", timezone="UTC", country="ES"
    )
    licenses = {
        "shop": provisioned_license(world, world.shop, provisioned),
        "hotel": provisioned_license(world, world.hotel, provisioned),
        "lodge": provisioned_license(world, lodge, provisioned - dt.timedelta(hours=1)),
        "fixed": provisioned_license(
            world,
            kiosk,
            provisioned,
            start_mode=StartMode.FIXED,
            fixed_start=TODAY + dt.timedelta(days=10),
        ),
    }
    other = world.other_office
    licenses["other"] = provisioned_license(
        _OtherWorld(world), other, provisioned
    )  # the other organization's
    morning = NOW - dt.timedelta(hours=3)
    events = (
        devices(world.shop, 3, morning, "shop")
        + devices(world.hotel, 1, morning + dt.timedelta(hours=1), "hotel")
        + devices(other, 4, morning, "other")
        + devices(world.shop, 1, morning, "shop")  # seen again: counted once
    )
    result = intake.ingest(events)
    assert result.started == [] and not result.rejected
    for license in licenses.values():
        license.refresh_from_db()
        assert license.status == S.PENDING_START
    return licenses


class _OtherWorld:
    """``world`` as seen from the other distributor and organization, for
    ``provisioned_license``."""

    def __init__(self, world):
        self.dist = world.other_dist
        self.dist_admin = world.other_dist_admin
        self.org_admin = world.other_org_admin


def pending_rows(html: str) -> list[tuple[str, int, int]]:
    block = section(html, "pending-start")
    return [
        (key, int(seen), int(needed))
        for key, seen, needed in re.findall(
            r'<tr data-key="([^"]+)" data-seen="(\d+)" data-needed="(\d+)">', block
        )
    ]


def test_licenses_waiting_to_start_closest_first(client, world, waiting):
    html = page_of(client, world.org_viewer)
    assert pending_rows(html) == [
        (waiting["shop"].key, 3, 5),
        (waiting["hotel"].key, 1, 5),
        (waiting["lodge"].key, 0, 5),  # no device yet; the fixed start is not listed
    ]
    block = section(html, "pending-start")
    assert f'href="{reverse("licenses:detail", args=[waiting["shop"].pk])}"' in block
    assert 'aria-label="3 of 5 devices"' in block and "3 / 5" in block
    assert "2026-06-20 09:02" in block  # the shop's third device, the latest of its three
    assert "None yet" in block
    assert f'href="{LIST}?status=pending_start"' in block
    # other tenants: their own only
    assert pending_rows(page_of(client, world.other_org_admin)) == [(waiting["other"].key, 4, 5)]
    staff = pending_rows(page_of(client, world.staff))
    assert staff[:2] == [(waiting["other"].key, 4, 5), (waiting["shop"].key, 3, 5)]
    assert pending_rows(page_of(client, world.dist_admin)) == pending_rows(html)
    assert pending_rows(page_of(client, world.partner_viewer)) == pending_rows(html)


def test_start_progress_counts_as_the_intake_does(world, waiting, settings):
    shop, hotel, lodge = waiting["shop"], waiting["hotel"], waiting["lodge"]
    progress = start_progress([shop.pk, hotel.pk, lodge.pk, waiting["fixed"].pk])
    assert progress[shop.pk] == StartProgress(
        seen=3, needed=5, last_seen=NOW - dt.timedelta(hours=3) + dt.timedelta(minutes=2)
    )
    assert progress[shop.pk].missing == 2
    assert progress[lodge.pk] == StartProgress(seen=0, needed=5, last_seen=None)
    assert progress[waiting["fixed"].pk].seen == 0
    # a row older than the provisioning's second is not counted (``_start_due``'s test)
    PendingDevice.objects.create(
        license=hotel,
        device="f" * 64,
        location=world.hotel,
        first_seen=hotel.provisioned.replace(microsecond=0) - dt.timedelta(seconds=1),
    )
    PendingDevice.objects.create(
        license=hotel,
        device="e" * 64,
        location=world.hotel,
        first_seen=hotel.provisioned.replace(microsecond=0),  # the second of Send Key counts
    )
    assert start_progress([hotel.pk])[hotel.pk].seen == 2
    settings.LICENSE_START_DEVICES = 4
    assert start_progress([shop.pk])[shop.pk] == StartProgress(
        seen=3, needed=4, last_seen=progress[shop.pk].last_seen
    )
    assert start_progress([]) == {}


def test_the_fifth_device_starts_the_license_and_it_leaves_the_list(client, world, waiting):
    shop = waiting["shop"]
    events = devices(world.shop, 2, NOW - dt.timedelta(minutes=30), "late")
    assert intake.ingest(events).started == [shop.pk]
    keys = [key for key, _seen, _needed in pending_rows(page_of(client, world.org_viewer))]
    assert shop.key not in keys
    assert start_progress([shop.pk])[shop.pk].seen == 0  # the intake deleted its rows


# --- Near their limit -----------------------------------------------------------------


@pytest.fixture
def filled(world):
    """Licenses in use with 10 access points allowed: the shop's with 9 in use (90 %:
    near), the other organization's office with 10 (near); the hotel's rooms license
    (5 rooms) with 4 rooms (80 %: not near); a finalized license at the shop (limits
    nothing)."""
    shop = ending(world, S.IN_USE, TODAY + dt.timedelta(days=200))
    License.objects.filter(pk=shop.pk).update(location=world.shop, license_type="aps", limit=10)
    shop.assignments.update(location=world.shop)
    hotel = ending(world, S.IN_USE, TODAY + dt.timedelta(days=200))
    License.objects.filter(pk=hotel.pk).update(limit=5)  # rooms; the hotel has 1 room
    finalized = ending(world, S.CONTRACT_FINALIZED, TODAY - dt.timedelta(days=3))
    License.objects.filter(pk=finalized.pk).update(license_type="aps", limit=1)
    finalized.assignments.update(location=world.shop)
    other = ending(world, S.IN_USE, TODAY + dt.timedelta(days=200), foreign=True)
    License.objects.filter(pk=other.pk).update(
        location=world.other_office, license_type="aps", limit=10
    )
    other.assignments.update(location=world.other_office)
    for n in range(9):
        AccessPoint.objects.create(location=world.shop, mac=f"02:00:00:00:01:{n:02X}")
    for n in range(9):  # the office had one
        AccessPoint.objects.create(location=world.other_office, mac=f"02:00:00:00:02:{n:02X}")
    for n in range(3):  # the hotel had one
        Room.objects.create(location=world.hotel, number=f"2{n:02d}")
    current.refresh([world.hotel, world.shop, world.other_office])  # moved past the services
    return {"shop": shop, "hotel": hotel, "finalized": finalized, "other": other}


def near_rows(html: str) -> list[tuple[str, int, int]]:
    block = section(html, "near-limit")
    return [
        (key, int(used), int(limit))
        for key, used, limit in re.findall(
            r'<tr data-key="([^"]+)" data-used="(\d+)" data-limit="(\d+)">', block
        )
    ]


def test_licenses_near_their_limit(client, api, world, filled):
    shop, other = filled["shop"], filled["other"]
    expected = {
        "staff": [(other.key, 10, 10), (shop.key, 9, 10)],
        "dist_admin": [(shop.key, 9, 10)],
        "partner_viewer": [(shop.key, 9, 10)],
        "org_viewer": [(shop.key, 9, 10)],
        "other_org_admin": [(other.key, 10, 10)],
    }
    for person in PERSONS:
        user = getattr(world, person)
        html = page_of(client, user)
        assert near_rows(html) == expected[person], person
        block = section(html, "near-limit")
        assert f'data-count="{len(expected[person])}"' in block
        url = f"{LIST}?near_limit=true"
        assert f'href="{url}"' in block
        assert api_count(api, user, url) == len(expected[person])
    block = section(page_of(client, world.org_viewer), "near-limit")
    assert "9 of 10 access points (90%)" in block
    # one more room makes the hotel's 5 of 5
    Room.objects.create(location=world.hotel, number="300")
    rows = near_rows(page_of(client, world.org_viewer))
    assert rows == [(filled["hotel"].key, 5, 5), (shop.key, 9, 10)]
    assert "5 of 5 rooms (100%)" in section(page_of(client, world.org_viewer), "near-limit")


def test_the_near_limit_filter_of_the_licenses_list(client, api, world, filled):
    near = api(world.staff).get(API_LIST, {"near_limit": "true"}).json()
    assert {row["key"] for row in near["results"]} == {filled["shop"].key, filled["other"].key}
    others = api(world.staff).get(API_LIST, {"near_limit": "false"}).json()
    assert {row["key"] for row in others["results"]} == {
        filled["hotel"].key,
        filled["finalized"].key,
    }
    assert api(world.staff).get(API_LIST, {"near_limit": "maybe"}).status_code == 400
    client.force_login(world.org_viewer)
    page = client.get(LIST, {"near_limit": "true"}).content.decode()
    assert filled["shop"].key in page
    assert filled["hotel"].key not in page and filled["other"].key not in page


def test_the_new_blocks_take_the_same_queries_for_more_rows(
    client, world, waiting, filled, django_assert_max_num_queries
):
    counts = {}
    for person in ("staff", "dist_admin", "partner_viewer", "org_viewer"):
        client.force_login(getattr(world, person))
        with CaptureQueriesContext(connection) as few:
            assert client.get(DASHBOARD).status_code == 200
        counts[person] = len(few)
    # more licenses waiting with devices, near their limit and ending in the window
    for n in range(4):
        location = Location.objects.create(
            organization=world.org, name=f"Store {n}", sector="retail", timezone="UTC", country="ES"
        )
        license = provisioned_license(world, location, NOW - dt.timedelta(days=1))
        assert not intake.ingest(devices(location, 2, NOW - dt.timedelta(hours=1), f"s{n}")).started
        for m in range(5):
            AccessPoint.objects.create(location=location, mac=f"02:00:00:00:1{n}:{m:02X}")
        assert License.objects.get(pk=license.pk).status == S.PENDING_START
        ending(world, S.IN_USE, TODAY + dt.timedelta(days=40 * n))
    for person, before in counts.items():
        client.force_login(getattr(world, person))
        with django_assert_max_num_queries(before):
            assert client.get(DASHBOARD).status_code == 200
        assert before <= 21, person


def test_a_status_card_counts_up_to_its_limit(client, world, monkeypatch):
    monkeypatch.setattr(views, "STATUS_COUNT_LIMIT", 2)
    for _ in range(3):
        make_license(world, S.CONTRACT_FINALIZED)
    make_license(world, S.IN_USE)
    make_license(world, S.IN_USE)
    html = page_of(client, world.dist_admin)
    finalized = re.search(
        r'data-testid="dashboard-status-contract_finalized".*?</article>', html, re.S
    )
    assert 'data-count="2" data-capped' in finalized.group(0)
    assert '<span class="figure">2+</span>' in finalized.group(0)
    in_use = re.search(r'data-testid="dashboard-status-in_use".*?</article>', html, re.S)
    assert 'data-count="2">' in in_use.group(0) and "data-capped" not in in_use.group(0)


def test_ending_soon_shows_the_first_ten_by_end_date_and_key(client, world):
    day = TODAY + dt.timedelta(days=1)
    licenses = [ending(world, S.IN_USE, day) for _ in range(3)]
    licenses += [ending(world, S.ACCESS_DENIED, day + dt.timedelta(days=1)) for _ in range(9)]
    licenses += [ending(world, S.IN_USE, day + dt.timedelta(days=2))]
    ending(world, S.IN_USE, TODAY + dt.timedelta(days=31))  # later than "soon"
    block = section(page_of(client, world.org_viewer), "ending-soon")
    expected = sorted(licenses, key=lambda license: (license.end_date, license.key))[:10]
    assert re.findall(r'data-key="([^"]+)"', block) == [license.key for license in expected]
    assert "<small>(13)</small>" in block
