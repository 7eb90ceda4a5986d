"""Licenses through the API: who sees what, the list's filters and ordering, the CSV,
the license view's tabs, the PDF, and every action (DESIGN §4, API.md "Licenses")."""

import csv
import datetime as dt
import io
import uuid

import pypdf
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wlm.licenses import current, lifecycle, tokens
from wlm.licenses.models import Assignment, License, LicenseEvent, LicenseStatus, Module
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy.models import Distributor, Organization

pytestmark = pytest.mark.django_db

S = LicenseStatus
ALL = list(S.values)
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LICENSES = "/api/v1/licenses/"
PROBLEM = "application/problem+json"


def problem(response, status):
    """The response is an RFC 9457 problem with ``status``; its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def url(license, action=""):
    return f"{LICENSES}{license.pk}/{action + '/' if action else ''}"


def state(license):
    """What an action must not change when it is refused."""
    license.refresh_from_db()
    return (
        license.status,
        license.start_date,
        license.end_date,
        license.limit,
        sorted(license.modules.values_list("code", flat=True)),
        sorted(str(pk) for pk in license.assignments.values_list("location_id", flat=True)),
        LicenseEvent.objects.filter(license=license).count(),
    )


def aps_license(world, status, *, limit=5, location=None, **kwargs):
    """An access-point license of ``world.dist`` for ``location`` (default: the shop)."""
    location = location or world.shop
    license = make_license(world, status, **kwargs)
    License.objects.filter(pk=license.pk).update(
        license_type="aps", limit=limit, location=location, timezone=location.timezone
    )
    Assignment.objects.filter(license=license).update(location=location)
    current.refresh([world.hotel, location])  # test data moved past the services
    license.refresh_from_db()
    return license


def other_license(world, status=S.IN_USE):
    """A license of the other distributor, partner and organization (the other office)."""
    license = aps_license(world, status, location=world.other_office)
    License.objects.filter(pk=license.pk).update(
        distributor=world.other_dist,
        partner=world.other_partner,
        organization=world.other_org if license.organization_id else None,
    )
    current.refresh([license.location_id])  # its stored copies, as after a service's change
    license.refresh_from_db()
    return license


def add_aps(location, count):
    start = AccessPoint.objects.count() + 100
    for number in range(start, start + count):
        AccessPoint.objects.create(
            location=location, mac=f"02:00:00:00:{number // 256:02x}:{number % 256:02x}"
        )


def add_location(world, name, *, sector="office", aps=0, organization=None):
    location = Location.objects.create(
        organization=organization or world.org,
        name=name,
        sector=sector,
        timezone="Europe/Madrid",
        address="Somewhere 1",
        country="ES",
    )
    add_aps(location, aps)
    return location


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- Visibility ------------------------------------------------------------------------


@pytest.fixture
def visible(world):
    """Three licenses: ``unsent`` (pending provision, for the hotel), ``used`` (in use at
    the hotel) and ``foreign`` (in use at the other organization's office)."""
    return {
        "unsent": make_license(world, S.PENDING_PROVISION),
        "used": make_license(world, S.IN_USE),
        "foreign": other_license(world),
    }


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("staff", {"unsent", "used", "foreign"}),
        ("staff_viewer", {"unsent", "used", "foreign"}),
        ("dist_admin", {"unsent", "used"}),
        ("dist_viewer", {"unsent", "used"}),
        ("partner_admin", {"unsent", "used"}),
        ("partner_viewer", {"unsent", "used"}),
        ("org_admin", {"used"}),  # only provisioned licenses of its organization
        ("org_viewer", {"used"}),
        ("other_dist_admin", {"foreign"}),
        ("other_partner_admin", {"foreign"}),
        ("other_org_admin", {"foreign"}),
    ],
)
def test_each_tenant_lists_and_opens_its_licenses(world, api, visible, person, expected):
    client = api(getattr(world, person))
    assert ids(client.get(LICENSES)) == {visible[name].pk for name in expected}
    for name, license in visible.items():
        detail = client.get(url(license))
        pdf = client.get(url(license, "pdf"))
        if name in expected:
            assert detail.status_code == 200, (name, detail.content)
            assert detail.json()["key"] == license.key
            assert pdf.status_code == 200
        else:
            problem(detail, 404)
            problem(pdf, 404)


def test_organization_does_not_see_a_cancelled_unsent_license(world, api):
    license = make_license(world, S.PENDING_PROVISION)
    lifecycle.cancel(world.dist_admin, license.pk, "never sold")
    assert ids(api(world.org_admin).get(LICENSES)) == set()
    problem(api(world.org_admin).get(url(license)), 404)


ACTION_BODIES = {
    "deny": {"reason": "unpaid"},
    "restore": {"reason": "paid"},
    "cancel": {"reason": "gone"},
    "renew": {"years": 1},
    "upgrade": {"rooms": 11},
}


@pytest.mark.parametrize("person", ["other_dist_admin", "other_org_admin"])
def test_other_tenants_get_404_on_every_action(world, api, person):
    license = make_license(world, S.IN_USE)
    before = state(license)
    client = api(getattr(world, person))
    for action, body in ACTION_BODIES.items():
        problem(client.post(url(license, action), body), 404)
    # a location the caller can name, so only the license is left to be not found
    problem(client.post(url(license, "assignments"), {"location": str(world.other_office.pk)}), 404)
    problem(client.delete(url(license, f"assignments/{world.hotel.pk}")), 404)
    problem(client.get(url(license)), 404)
    problem(client.get(url(license, "pdf")), 404)
    assert state(license) == before


def test_other_partner_gets_404_on_reads_and_the_same_403_as_for_a_missing_license(world, api):
    """A partner never acts on licenses: its 403 comes before any lookup, so it is the
    same answer for an invisible license as for one that does not exist (nothing leaks)."""
    license = make_license(world, S.IN_USE)
    before = state(license)
    client = api(world.other_partner_admin)
    problem(client.get(url(license)), 404)
    problem(client.get(url(license, "pdf")), 404)
    missing = License(pk=license.pk + 1000)
    for action, body in ACTION_BODIES.items():
        seen = client.post(url(license, action), body)
        unseen = client.post(url(missing, action), body)
        problem(seen, 403)
        assert seen.content == unseen.content
    problem(client.post(url(license, "assignments"), {"location": str(world.other_office.pk)}), 403)
    problem(client.delete(url(license, f"assignments/{world.hotel.pk}")), 403)
    assert state(license) == before


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("deny", {}),
        ("cancel", {"reason": ""}),
        ("renew", {"years": 9}),
        ("upgrade", {"aps": 0}),
        ("assignments", {"location": "hotel"}),  # a location the caller cannot see
    ],
)
def test_invisible_license_is_404_whatever_the_body(world, api, action, body):
    """The license is looked up before the body is read (docs/api.md)."""
    license = make_license(world, S.IN_USE)
    if body.get("location") == "hotel":
        body = {"location": str(world.hotel.pk)}
    before = state(license)
    response = api(world.other_dist_admin).post(url(license, action), body)
    assert state(license) == before
    problem(response, 404)


def test_gateway_is_refused_everything(world, api):
    license = make_license(world, S.IN_USE)
    client = api(world.gateway)
    problem(client.get(LICENSES), 403)
    problem(client.get(url(license)), 403)
    problem(client.get(url(license, "pdf")), 403)
    for action, body in ACTION_BODIES.items():
        problem(client.post(url(license, action), body), 403)


# --- Filters, ordering, CSV -----------------------------------------------------------

KEY_A = "A1B0C-D1E0F-GH1J0-K1M0N-P1Q0R"


@pytest.fixture
def catalogue(world):
    """Five licenses with different values in every filtered column.

    - ``a``: rooms 10, in use at the hotel, 2026-01-15 → 2028-01-15, guest + pms;
    - ``b``: aps 5, pending provision, for the shop, guest;
    - ``c``: rooms 20, contract finalized at the hotel, 2024-01-15 → 2026-01-15;
    - ``d``: aps 30, access denied, made for the hotel but assigned to the shop only,
      2025-06-01 → 2026-06-01, analytics;
    - ``e``: aps 5, in use at the other organization's office (other distributor).
    """
    a = make_license(world, S.IN_USE)
    License.objects.filter(pk=a.pk).update(key=KEY_A)
    a.modules.set(["guest", "pms"])
    b = aps_license(world, S.PENDING_PROVISION, limit=5)
    b.modules.set(["guest"])
    c = make_license(world, S.CONTRACT_FINALIZED, start=dt.date(2024, 1, 15))
    License.objects.filter(pk=c.pk).update(limit=20)
    d = make_license(world, S.ACCESS_DENIED, start=dt.date(2025, 6, 1), years=1)
    d.refresh_from_db()
    License.objects.filter(pk=d.pk).update(
        license_type="aps",
        limit=30,
        start_date=dt.date(2025, 6, 1),
        end_date=dt.date(2026, 6, 1),
        status_before_denial=S.IN_USE,
    )
    Assignment.objects.filter(license=d).update(location=world.shop)
    d.modules.set(["analytics"])
    e = other_license(world)
    rows = {"a": a, "b": b, "c": c, "d": d, "e": e}
    for day, license in enumerate(rows.values(), start=1):
        License.objects.filter(pk=license.pk).update(
            created=dt.datetime(2027, 1, day, tzinfo=dt.UTC), years=1 + day % 3
        )
    current.refresh([world.hotel, world.shop, world.other_office])  # data past the services
    for license in rows.values():
        license.refresh_from_db()
    return rows


def listed(api, world, query):
    response = api(world.staff).get(LICENSES, query)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def names(catalogue, found):
    by_id = {license.pk: name for name, license in catalogue.items()}
    return "".join(sorted(by_id[pk] for pk in found))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "abcde"),
        ({"status": "in_use"}, "ae"),
        ({"status": ["in_use", "access_denied"]}, "ade"),
        ({"status": ["pending_provision", "contract_finalized"]}, "bc"),
        ({"status": "pending_start"}, ""),
        ({"key": KEY_A}, "a"),
        ({"key": "d1e0f-gh"}, "a"),  # part of a key, lower case
        ({"key": " gh 1j0 "}, "a"),  # spaces ignored
        ({"key": "dIeOf-ghLj"}, "a"),  # I and L read as 1, O as 0
        ({"key": "zz$$%"}, ""),  # junk: nothing, not an error
        ({"key": "UUU"}, ""),  # U is not in the alphabet
        ({"module": "pms"}, "a"),
        ({"module": ["pms", "analytics"]}, "ad"),
        ({"module": "guest"}, "ab"),
        ({"aps": 5}, "be"),
        ({"aps": 30}, "d"),
        ({"aps": 10}, ""),  # a is a rooms license with limit 10
        ({"rooms": 10}, "a"),
        ({"rooms": 20}, "c"),
        ({"rooms": 5}, ""),
        ({"start_after": "2026-01-15"}, "ae"),  # inclusive
        ({"start_after": "2026-01-16"}, ""),
        ({"start_before": "2025-06-01"}, "cd"),  # inclusive
        ({"start_before": "2025-05-31"}, "c"),
        ({"start_after": "2025-06-01", "start_before": "2025-06-01"}, "d"),
        ({"end_after": "2026-06-01"}, "ade"),  # inclusive
        ({"end_after": "2026-06-02"}, "ae"),
        ({"end_before": "2026-06-01"}, "cd"),  # inclusive
        ({"end_before": "2026-05-31"}, "c"),
        ({"end_after": "2026-01-15", "end_before": "2026-01-15"}, "c"),
        ({"status": "in_use", "end_before": "2028-01-15"}, "ae"),
    ],
)
def test_list_filters(world, api, catalogue, query, expected):
    assert names(catalogue, listed(api, world, query)) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "a1b0c d1e0f gh1j0 k1m0n p1q0r",
        "A1B0CD1E0FGH1J0K1M0NP1Q0R",
        "d1e0f gh1j0",
        # the dashes a key pasted from the PDF may carry, as Send Key accepts them
        "d1e0f\u2013gh1j0",
        "D1E0F\u2010GH1J0\u2010K1M0N",
    ],
)
def test_key_filter_ignores_how_the_groups_are_separated(world, api, catalogue, typed):
    assert names(catalogue, listed(api, world, {"key": typed})) == "a"


def test_list_filters_by_tenant_and_location(world, api, catalogue):
    def find(**query):
        return names(catalogue, listed(api, world, query))

    assert find(organization=world.org.pk) == "acd"
    assert find(organization=world.other_org.pk) == "e"
    assert find(distributor=world.dist.pk) == "abcd"
    assert find(distributor=world.other_dist.pk) == "e"
    assert find(partner=world.partner.pk) == "abcd"
    assert find(partner=world.other_partner.pk) == "e"
    # made for the location, or assigned to it
    assert find(location=world.shop.pk) == "bd"
    assert find(location=world.hotel.pk) == "acd"
    assert find(location=world.other_office.pk) == "e"
    assert find(location=uuid.uuid4()) == ""


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("other", "e"),  # Other Org, Other Dist, Other Partner
        ("OFFICE", "e"),  # the intended location's name, any case
        ("shop", "b"),
        ("hotel", "acd"),
        ("dist", "abcde"),
        ("partner other", "e"),  # every word must match somewhere
        ("gh1j0", "a"),  # part of a key
        ("nobody-has-this", ""),
    ],
)
def test_list_search(world, api, catalogue, q, expected):
    assert names(catalogue, listed(api, world, {"q": q})) == expected


def test_filters_only_offer_what_the_caller_sees(world, api, catalogue):
    client = api(world.dist_admin)
    assert {row["id"] for row in client.get(LICENSES).json()["results"]} == {
        catalogue[name].pk for name in "abcd"
    }
    # another tenant's id is answered like a missing one
    body = problem(client.get(LICENSES, {"organization": world.other_org.pk}), 400)
    assert "organization" in body["errors"]
    assert ids(client.get(LICENSES, {"q": "other"})) == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": ["in_use", "bogus"]}, "status"),
        ({"end_after": "2027-02-30"}, "end_after"),
        ({"end_before": "yesterday"}, "end_before"),
        ({"start_after": "2027-13-01"}, "start_after"),
        ({"aps": -1}, "aps"),
        ({"rooms": "many"}, "rooms"),
        ({"aps": 2**31}, "aps"),
        ({"organization": "99999999999999999999"}, "organization"),
        ({"organization": 424242}, "organization"),
        ({"distributor": "x"}, "distributor"),
        ({"partner": -5}, "partner"),
        ({"module": "no_such_module"}, "module"),
        ({"location": "not-a-uuid"}, "location"),
        ({"key": "K" * 101}, "key"),
    ],
)
def test_bad_filter_values_are_400(world, api, catalogue, query, field):
    body = problem(api(world.staff).get(LICENSES, query), 400)
    assert field in body["errors"], body


ORDERING = ["key", "organization__name", "status", "start_date", "end_date", "limit", "years"]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("field", [*ORDERING, "created"])
def test_ordering_by_each_field(world, api, catalogue, field, descending):
    response = api(world.staff).get(LICENSES, {"ordering": ("-" if descending else "") + field})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert len(rows) == 5
    org_names = dict(Organization.objects.values_list("pk", "name"))
    created = {license.pk: license.created for license in catalogue.values()}

    def value(row):
        if field == "organization__name":
            return org_names.get(row["organization"])
        if field == "created":
            return created[row["id"]]
        return row[field]

    values = [value(row) for row in rows]
    present = [v for v in values if v is not None]  # NULLs sort differently per database
    assert present == sorted(present, reverse=descending), values
    assert len(set(present)) > 1, "the catalogue should make this ordering observable"


def test_default_ordering_is_newest_first(world, api, catalogue):
    rows = api(world.staff).get(LICENSES).json()["results"]
    assert [row["id"] for row in rows] == [catalogue[name].pk for name in "edcba"]


@pytest.mark.parametrize("ordering", ["bogus", "-password", "key,bogus", "location__name", ","])
def test_unknown_ordering_is_400(world, api, catalogue, ordering):
    body = problem(api(world.staff).get(LICENSES, {"ordering": ordering}), 400)
    assert "ordering" in body["errors"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "abcde"),
        ({"status": ["in_use", "access_denied"]}, "ade"),
        ({"module": "pms"}, "a"),
        ({"q": "nobody-has-this"}, ""),
    ],
)
def test_csv_export_has_exactly_the_filtered_rows(world, api, catalogue, query, expected):
    response = api(world.staff).get(LICENSES, {**query, "format": "csv", "page_size": 1})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="licenses.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    lines = text.splitlines()
    assert len(lines) == 1 + len(expected)  # one header, then every row (no pagination)
    rows = list(csv.DictReader(io.StringIO(text)))
    header = lines[0].split(",")
    for column in ["id", "key", "organization", "modules", "aps", "rooms", "status"]:
        assert column in header
    assert names(catalogue, {int(row["id"]) for row in rows}) == expected
    if expected == "a":
        assert rows[0]["key"] == KEY_A
        assert rows[0]["modules"] == "guest;pms"


# --- The license view ------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_detail_tabs(world, api):
    license = aps_license(world, S.IN_USE, limit=6)  # at the shop, no elements yet
    add_aps(world.shop, 2)
    license.modules.set(["guest"])
    office = add_location(world, "Back Office", aps=3)
    admin = api(world.dist_admin)
    assert admin.post(url(license, "deny"), {"reason": "unpaid invoice"}).status_code == 200
    assert admin.post(url(license, "restore"), {}).status_code == 200
    upgraded = admin.post(
        url(license, "upgrade"), {"aps": 8, "add_modules": ["pms"], "reason": "bigger"}
    )
    assert upgraded.status_code == 200, upgraded.content
    assigned = api(world.org_admin).post(url(license, "assignments"), {"location": str(office.pk)})
    assert assigned.status_code == 201, assigned.content

    detail = api(world.org_viewer).get(url(license))
    assert detail.status_code == 200
    body = detail.json()
    assert body["general"] == {
        "aps": {"max": 8, "used": 5},
        "rooms": {"max": None, "used": 0},
        "term_years": 2,
    }
    assert body["aps"] == 8 and body["rooms"] is None
    assert body["modules"] == ["guest", "pms"]
    assert body["notifications"] == []
    assert body["assignments"] == [
        {"location": str(world.shop.pk), "name": "Shop", "access_points": 2, "rooms": 0},
        {"location": str(office.pk), "name": "Back Office", "access_points": 3, "rooms": 0},
    ]
    events = [
        (e["kind"], e["actor"], e["reason"], e["before"], e["after"]) for e in body["upgrades"]
    ]
    assert events == [
        (
            "denied",
            "dist_admin",
            "unpaid invoice",
            {"status": "in_use", "status_before_denial": ""},
            {"status": "access_denied", "status_before_denial": "in_use"},
        ),
        (
            "restored",
            "dist_admin",
            "",
            {"status": "access_denied", "status_before_denial": "in_use"},
            {"status": "in_use", "status_before_denial": ""},
        ),
        (
            "upgraded",
            "dist_admin",
            "bigger",
            {"limit": 6, "modules": ["guest"]},
            {"limit": 8, "modules": ["guest", "pms"]},
        ),
        ("assigned", "org_admin", "", {}, {"location": str(office.pk)}),
    ]
    assert all(dt.datetime.fromisoformat(e["at"]) == NOW for e in body["upgrades"])


def test_detail_of_a_rooms_license_counts_rooms_and_access_points(world, api):
    license = make_license(world, S.IN_USE, years=3)
    Room.objects.create(location=world.hotel, number="102")
    body = api(world.dist_admin).get(url(license)).json()
    assert body["general"] == {
        "aps": {"max": None, "used": 1},
        "rooms": {"max": 10, "used": 2},
        "term_years": 3,
    }
    assert body["assignments"] == [
        {"location": str(world.hotel.pk), "name": "Hotel", "access_points": 1, "rooms": 2}
    ]
    assert body["upgrades"] == []


def test_detail_queries_do_not_grow_with_events_or_assignments(
    world, api, django_assert_max_num_queries
):
    license = aps_license(world, S.IN_USE, limit=50)
    license.modules.set(["guest", "pms", "analytics"])
    client = api(world.dist_admin)
    tokens.latest(license)  # made past the lifecycle: its first token, issued on first read

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(license)).status_code == 200
        return len(captured)

    queries()  # the token's first use notes it (one UPDATE, then not for a minute)
    few = queries()
    for number in range(4):
        lifecycle.deny(world.dist_admin, license.pk, f"unpaid {number}")
        lifecycle.restore(world.dist_admin, license.pk, "paid")
        lifecycle.upgrade(world.dist_admin, license.pk, limit=51 + number)
        office = add_location(world, f"Office {number}", aps=2)
        lifecycle.assign(world.org_admin, license.pk, office)
    assert LicenseEvent.objects.filter(license=license).count() == 16
    assert license.assignments.count() == 5
    # token with its user, membership, license (with its signed token), modules, events,
    # notices joined with their deliveries, assignments with counts
    with django_assert_max_num_queries(7):
        response = client.get(url(license))
    assert len(response.json()["upgrades"]) == 16
    assert len(response.json()["assignments"]) == 5
    assert queries() == few


# --- The certificate -------------------------------------------------------------------


def test_pdf_certificate(world, api):
    Organization.objects.filter(pk=world.org.pk).update(name="Acme Hospitality Group")
    Distributor.objects.filter(pk=world.dist.pk).update(name="Wholesale Wireless Iberia")
    Location.objects.filter(pk=world.hotel.pk).update(name="Seaside Hotel Alicante")
    license = make_license(world, S.PENDING_PROVISION)
    response = api(world.partner_admin).get(url(license, "pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="license-{license.key}.pdf"' in response["Content-Disposition"]
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    for expected in (
        license.key,
        "Seaside Hotel Alicante",
        "Acme Hospitality Group",
        "Wholesale Wireless Iberia",
        str(world.hotel.pk),
    ):
        assert expected in text, expected


# --- Actions from every status (DESIGN §4) --------------------------------------------

ACTIONS = ["deny", "restore", "cancel", "renew", "upgrade"]
BODIES = ACTION_BODIES
# (action, status before) → status after; every other pair is a 409
AFTER = {
    ("deny", S.PENDING_START): S.ACCESS_DENIED,
    ("deny", S.IN_USE): S.ACCESS_DENIED,
    ("restore", S.ACCESS_DENIED): S.IN_USE,  # the status before the denial
    ("cancel", S.PENDING_PROVISION): S.CONTRACT_FINALIZED,
    ("renew", S.IN_USE): S.IN_USE,
    ("renew", S.ACCESS_DENIED): S.ACCESS_DENIED,  # a denial stays until restored
    ("renew", S.CONTRACT_FINALIZED): S.IN_USE,  # after the end: a new term from today
    ("upgrade", S.PENDING_PROVISION): S.PENDING_PROVISION,
    ("upgrade", S.PENDING_START): S.PENDING_START,
    ("upgrade", S.IN_USE): S.IN_USE,
    ("upgrade", S.ACCESS_DENIED): S.ACCESS_DENIED,
}


def license_in(world, status):
    """A consistent license in ``status`` on 2027-03-10: a finalized one has ended."""
    if status == S.CONTRACT_FINALIZED:
        return make_license(world, status, start=dt.date(2025, 1, 15), years=2)
    before_denial = S.IN_USE if status == S.ACCESS_DENIED else ""
    return make_license(world, status, before_denial=before_denial)


@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("action", ACTIONS)
@time_machine.travel(NOW, tick=False)
def test_every_action_from_every_status(world, api, action, status):
    license = license_in(world, status)
    before = state(license)
    events = before[-1]
    response = api(world.dist_admin).post(url(license, action), BODIES[action])
    if (action, status) in AFTER:
        assert response.status_code == 200, response.content
        expected = AFTER[action, status]
        assert response.json()["status"] == expected
        license.refresh_from_db()
        assert license.status == expected
        assert LicenseEvent.objects.filter(license=license).count() == events + 1
        event = LicenseEvent.objects.filter(license=license).last()
        assert event.actor_name == "dist_admin"
        assert event.at == NOW
    else:
        body = problem(response, 409)
        assert body["type"].endswith("/conflict")
        assert str(S(status).label) in body["detail"]  # the 409 names the status
        assert state(license) == before


@time_machine.travel(NOW, tick=False)
def test_restore_returns_to_pending_start_or_finalizes_after_the_end(world, api):
    admin = api(world.dist_admin)
    waiting = make_license(world, S.ACCESS_DENIED, before_denial=S.PENDING_START)
    assert admin.post(url(waiting, "restore"), {}).json()["status"] == S.PENDING_START
    ended = make_license(
        world, S.ACCESS_DENIED, start=dt.date(2025, 1, 15), years=2, before_denial=S.IN_USE
    )
    assert admin.post(url(ended, "restore"), {}).json()["status"] == S.CONTRACT_FINALIZED


@pytest.mark.parametrize(
    ("action", "status"), [("deny", S.IN_USE), ("cancel", S.PENDING_PROVISION)]
)
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_deny_and_cancel_need_a_reason(world, api, action, status, body):
    license = make_license(world, status)
    before = state(license)
    errors = problem(api(world.dist_admin).post(url(license, action), body), 400)["errors"]
    assert "reason" in errors
    assert state(license) == before


def test_restore_needs_no_reason(world, api):
    license = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    response = api(world.dist_admin).post(url(license, "restore"), {})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == S.IN_USE
    assert LicenseEvent.objects.get(license=license, kind="restored").reason == ""


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("person", ["dist_viewer", "partner_admin", "partner_viewer", "org_viewer"])
@time_machine.travel(NOW, tick=False)
def test_viewers_and_partners_cannot_act(world, api, person, action):
    status = next(s for (a, s) in AFTER if a == action)
    license = license_in(world, status)
    before = state(license)
    problem(api(getattr(world, person)).post(url(license, action), BODIES[action]), 403)
    assert state(license) == before


@pytest.mark.parametrize("action", ["deny", "restore", "renew", "upgrade"])
@time_machine.travel(NOW, tick=False)
def test_organization_admin_cannot_act_on_its_license(world, api, action):
    status = S.ACCESS_DENIED if action == "restore" else S.IN_USE
    license = license_in(world, status)
    before = state(license)
    body = problem(api(world.org_admin).post(url(license, action), BODIES[action]), 403)
    assert "role" in body["detail"].lower()
    assert state(license) == before


@time_machine.travel(NOW, tick=False)
def test_staff_may_act_and_staff_viewer_may_not(world, api):
    license = make_license(world, S.IN_USE)
    problem(api(world.staff_viewer).post(url(license, "deny"), {"reason": "x"}), 403)
    assert api(world.staff).post(url(license, "deny"), {"reason": "x"}).status_code == 200


# --- Upgrade ---------------------------------------------------------------------------


def test_upgrade_raises_the_limit_of_an_aps_license(world, api):
    license = aps_license(world, S.IN_USE, limit=5)
    response = api(world.dist_admin).post(url(license, "upgrade"), {"aps": 8, "reason": "more"})
    assert response.status_code == 200, response.content
    assert response.json()["aps"] == 8
    assert response.json()["general"]["aps"]["max"] == 8
    license.refresh_from_db()
    assert license.limit == 8
    event = LicenseEvent.objects.get(license=license, kind="upgraded")
    assert (event.before, event.after, event.reason) == ({"limit": 5}, {"limit": 8}, "more")


def test_upgrade_raises_the_limit_of_a_rooms_license(world, api):
    license = make_license(world, S.PENDING_START)
    response = api(world.dist_admin).post(url(license, "upgrade"), {"rooms": 25})
    assert response.status_code == 200, response.content
    assert response.json()["rooms"] == 25 and response.json()["aps"] is None
    event = LicenseEvent.objects.get(license=license, kind="upgraded")
    assert (event.before, event.after) == ({"limit": 10}, {"limit": 25})


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("rooms", {"aps": 20}, "aps"),  # a rooms license has no aps limit
        ("rooms", {"aps": 20, "rooms": 30}, "aps"),
        ("aps", {"rooms": 20}, "rooms"),
        ("aps", {"aps": 0}, "aps"),
        ("aps", {"aps": -3}, "aps"),
        ("aps", {"aps": 1_000_001}, "aps"),
        ("aps", {"aps": "many"}, "aps"),
        ("rooms", {"add_modules": ["no_such_module"]}, "add_modules"),
        ("rooms", {"remove_modules": ["nope"]}, "remove_modules"),
        ("rooms", {"add_modules": "pms"}, "add_modules"),
        ("rooms", {"add_modules": ["pms"], "remove_modules": ["pms"]}, "add_modules"),
    ],
)
def test_upgrade_invalid_input_is_400(world, api, kind, body, field):
    license = make_license(world, S.IN_USE) if kind == "rooms" else aps_license(world, S.IN_USE)
    license.modules.set(["guest"])
    before = state(license)
    errors = problem(api(world.dist_admin).post(url(license, "upgrade"), body), 400)["errors"]
    assert field in errors, errors
    assert state(license) == before


@pytest.mark.parametrize(
    "body", [{}, {"reason": "nothing"}, {"aps": 5}, {"remove_modules": ["pms"]}]
)
def test_upgrade_with_nothing_to_change_is_400(world, api, body):
    license = aps_license(world, S.IN_USE, limit=5)
    license.modules.set(["guest"])
    before = state(license)
    errors = problem(api(world.dist_admin).post(url(license, "upgrade"), body), 400)["errors"]
    assert any("Nothing to change" in m for messages in errors.values() for m in messages)
    assert state(license) == before


@pytest.mark.parametrize("kind", ["aps", "rooms"])
def test_upgrade_below_the_elements_in_use_is_409(world, api, kind):
    if kind == "aps":
        license = aps_license(world, S.IN_USE, limit=5)
        add_aps(world.shop, 3)
        body, what = {"aps": 2}, "access points"
    else:
        license = make_license(world, S.IN_USE)
        for number in ("102", "103"):
            Room.objects.create(location=world.hotel, number=number)
        body, what = {"rooms": 2}, "rooms"
    before = state(license)
    detail = problem(api(world.dist_admin).post(url(license, "upgrade"), body), 409)["detail"]
    assert f"allows 2 {what}" in detail
    assert "3 would be in use" in detail
    assert state(license) == before
    # exactly what is in use is fine
    exact = {kind: 3}
    assert api(world.dist_admin).post(url(license, "upgrade"), exact).status_code == 200


def test_upgrade_counts_every_assigned_location(world, api):
    license = aps_license(world, S.IN_USE, limit=10)
    add_aps(world.shop, 2)
    office = add_location(world, "Annex", aps=3)
    lifecycle.assign(world.org_admin, license.pk, office)
    detail = problem(api(world.dist_admin).post(url(license, "upgrade"), {"aps": 4}), 409)["detail"]
    assert "allows 4 access points; 5 would be in use" in detail


def test_upgrade_adds_and_removes_modules(world, api):
    license = make_license(world, S.IN_USE)
    license.modules.set(["guest", "analytics"])
    response = api(world.dist_admin).post(
        url(license, "upgrade"),
        {"add_modules": ["pms", "business"], "remove_modules": ["analytics"]},
    )
    assert response.status_code == 200, response.content
    assert response.json()["modules"] == ["business", "guest", "pms"]
    license.refresh_from_db()
    assert sorted(license.modules.values_list("code", flat=True)) == ["business", "guest", "pms"]
    assert license.limit == 10
    event = LicenseEvent.objects.get(license=license, kind="upgraded")
    assert event.before == {"modules": ["analytics", "guest"]}
    assert event.after == {"modules": ["business", "guest", "pms"]}


def test_upgrade_limit_and_modules_together(world, api):
    license = aps_license(world, S.PENDING_PROVISION, limit=5)
    license.modules.set(["guest"])
    response = api(world.dist_admin).post(
        url(license, "upgrade"), {"aps": 7, "add_modules": ["enterprise"]}
    )
    assert response.status_code == 200, response.content
    event = LicenseEvent.objects.get(license=license, kind="upgraded")
    assert event.before == {"limit": 5, "modules": ["guest"]}
    assert event.after == {"limit": 7, "modules": ["enterprise", "guest"]}
    assert Module.objects.filter(licenses=license).count() == 2


# --- Renew -----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_renew_before_the_end_moves_the_end_date(world, api):
    license = make_license(world, S.IN_USE, start=dt.date(2026, 1, 15), years=2)
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["start_date"], body["end_date"]) == (
        "in_use",
        "2026-01-15",
        "2031-01-15",
    )
    event = LicenseEvent.objects.get(license=license, kind="renewed")
    assert event.before == {"end_date": "2028-01-15"}
    assert event.after == {"end_date": "2031-01-15", "years": 3}


@time_machine.travel(NOW, tick=False)
def test_renew_after_the_end_starts_a_new_term_today(world, api):
    license = make_license(world, S.CONTRACT_FINALIZED, start=dt.date(2024, 1, 15), years=2)
    response = api(world.dist_admin).post(url(license, "renew"), {"years": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["start_date"], body["end_date"]) == (
        "in_use",
        "2027-03-10",
        "2029-03-10",
    )


@time_machine.travel(NOW, tick=False)
def test_renew_of_a_denied_license_keeps_the_denial(world, api):
    license = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    body = api(world.dist_admin).post(url(license, "renew"), {"years": 1}).json()
    assert (body["status"], body["end_date"]) == ("access_denied", "2029-01-15")


@pytest.mark.parametrize("body", [{"years": 0}, {"years": 6}, {"years": -1}, {}, {"years": "x"}])
@time_machine.travel(NOW, tick=False)
def test_renew_years_out_of_range_is_400(world, api, body):
    license = make_license(world, S.IN_USE)
    before = state(license)
    errors = problem(api(world.dist_admin).post(url(license, "renew"), body), 400)["errors"]
    assert "years" in errors
    assert state(license) == before


@time_machine.travel(NOW, tick=False)
def test_cancelled_license_cannot_be_renewed(world, api):
    license = make_license(world, S.PENDING_PROVISION)
    admin = api(world.dist_admin)
    assert admin.post(url(license, "cancel"), {"reason": "never used"}).status_code == 200
    before = state(license)
    problem(admin.post(url(license, "renew"), {"years": 1}), 409)
    assert state(license) == before


# --- Assignments -----------------------------------------------------------------------


def assign(api, world, license, location, person="org_admin"):
    return api(getattr(world, person)).post(
        url(license, "assignments"), {"location": str(location.pk)}
    )


def unassign(api, world, license, location, person="org_admin"):
    return api(getattr(world, person)).delete(url(license, f"assignments/{location.pk}"))


@time_machine.travel(NOW, tick=False)
def test_assign_and_unassign_a_location(world, api):
    license = aps_license(world, S.IN_USE, limit=5)
    add_aps(world.shop, 2)
    annex = add_location(world, "Annex", aps=3)
    response = assign(api, world, license, annex)
    assert response.status_code == 201, response.content
    assert {row["location"] for row in response.json()["assignments"]} == {
        str(world.shop.pk),
        str(annex.pk),
    }
    assert response.json()["general"]["aps"] == {"max": 5, "used": 5}
    event = LicenseEvent.objects.get(license=license, kind="assigned")
    assert (event.actor_name, event.after) == ("org_admin", {"location": str(annex.pk)})

    problem(assign(api, world, license, annex), 409)  # already assigned

    removed = unassign(api, world, license, world.shop)
    assert removed.status_code == 204
    assert removed.content == b""
    assert list(license.assignments.values_list("location_id", flat=True)) == [annex.pk]
    event = LicenseEvent.objects.get(license=license, kind="unassigned")
    assert event.before == {"location": str(world.shop.pk)}

    before = state(license)
    body = problem(unassign(api, world, license, annex), 409)  # the last location stays
    assert "at least one location" in body["detail"]
    assert state(license) == before
    problem(unassign(api, world, license, world.shop), 409)  # not assigned any more


def test_assignment_limit_counts_both_locations(world, api):
    license = aps_license(world, S.IN_USE, limit=5)
    add_aps(world.shop, 2)
    annex = add_location(world, "Annex", aps=4)
    before = state(license)
    body = problem(assign(api, world, license, annex), 409)
    assert "allows 5 access points; 6 would be in use" in body["detail"]
    assert state(license) == before


def test_assigning_a_location_that_holds_another_active_license_is_409(world, api):
    make_license(world, S.IN_USE)  # the hotel's rooms license
    license = aps_license(world, S.IN_USE, limit=50)
    before = state(license)
    body = problem(assign(api, world, license, world.hotel), 409)
    assert "already holds an active license" in body["detail"]
    assert state(license) == before


def test_a_location_whose_license_ended_can_be_assigned(world, api):
    old = aps_license(world, S.CONTRACT_FINALIZED, location=add_location(world, "Old"))
    license = aps_license(world, S.IN_USE, limit=50)
    location = old.location
    response = assign(api, world, license, location)
    assert response.status_code == 201, response.content


def test_another_organizations_location_is_invalid(world, api):
    """An invisible location gets the answer of a missing one (400 on the field)."""
    license = aps_license(world, S.IN_USE, limit=50)
    before = state(license)
    nowhere = Location(pk=uuid.uuid4())
    invisible = problem(assign(api, world, license, world.other_office), 400)["errors"]
    missing = problem(assign(api, world, license, nowhere), 400)["errors"]
    assert set(invisible) == set(missing) == {"location"}
    assert invisible["location"][0].replace(str(world.other_office.pk), "?") == missing["location"][
        0
    ].replace(str(nowhere.pk), "?")
    assert state(license) == before


def test_a_rooms_license_only_goes_to_hospitality_locations(world, api):
    license = make_license(world, S.IN_USE)  # rooms, at the hotel
    before = state(license)
    body = problem(assign(api, world, license, world.shop), 409)
    assert "hospitality" in body["detail"]
    assert state(license) == before
    resort = add_location(world, "Resort", sector="hospitality")
    assert assign(api, world, license, resort).status_code == 201


@pytest.mark.parametrize("status", [S.PENDING_PROVISION, S.CONTRACT_FINALIZED])
def test_only_an_active_license_takes_locations(world, api, status):
    license = aps_license(world, status, limit=50)
    annex = add_location(world, "Annex")
    if status == S.PENDING_PROVISION:  # not the organization's yet: not even visible
        problem(assign(api, world, license, annex), 404)
        body = problem(assign(api, world, license, annex, "staff"), 409)  # Send Key first
        assert "Pending Provision" in body["detail"]
    else:
        before = state(license)
        problem(assign(api, world, license, annex), 409)
        assert state(license) == before


@pytest.mark.parametrize("person", ["dist_admin", "partner_admin", "org_viewer", "gateway"])
def test_only_the_organization_assigns(world, api, person):
    license = aps_license(world, S.IN_USE, limit=50)
    annex = add_location(world, "Annex")
    assign(api, world, license, annex)  # the organization's second location
    license = License.objects.get(pk=license.pk)
    second = add_location(world, "Second")
    before = state(license)
    problem(assign(api, world, license, second, person), 403)
    problem(unassign(api, world, license, annex, person), 403)
    assert state(license) == before


def test_staff_assigns_for_the_organization(world, api):
    license = aps_license(world, S.IN_USE, limit=50)
    annex = add_location(world, "Annex")
    assert assign(api, world, license, annex, "staff").status_code == 201
    assert unassign(api, world, license, annex, "staff").status_code == 204
