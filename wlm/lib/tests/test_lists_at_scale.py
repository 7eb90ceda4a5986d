"""Lists at scale (docs/performance.md): the indexes, the capped count, the page read by
id and the ``q`` rewritten for PostgreSQL keep every list's rows what they were.

The reference of each case is the plain query the lists ran before (joins for ``q``,
no cap): the API's rows must be exactly those, in the same order, on every page.
Speed is measured by ``make bench BENCH=lists``, not here.
"""

import csv
import datetime as dt
import io
import re
from functools import reduce
from operator import and_, or_

import pytest
import time_machine
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext

from wlm.conftest import make_user
from wlm.demo import load
from wlm.lib import filters, pagination, plans
from wlm.lib.search import folded_contains
from wlm.licenses import current
from wlm.licenses.models import CurrentLicense, License, LicenseStatus
from wlm.locations.models import Location
from wlm.locations.queries import with_license
from wlm.tenancy.models import Distributor, Organization, Partner

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LICENSES = "/api/v1/licenses/"
LOCATIONS = "/api/v1/locations/"
S = LicenseStatus


@pytest.fixture
def scale(db):
    """Generated data (``generate_load``), one organization in four moved to a second
    partner and distributor, and a user of each tenant kind."""
    with time_machine.travel(NOW, tick=False):
        load.generate(240, pending_share=0.2, other_share=0.3, seed=11, history=2)
    partner = Partner.objects.get(name=load.PARTNER)
    second_distributor = Distributor.objects.create(name="Second Dist", email="d2@example.com")
    second_partner = Partner.objects.create(name="Second Partner", email="p2@example.com")
    second_partner.distributors.add(second_distributor)
    moved = [org.pk for org in Organization.objects.order_by("pk")][::4]
    Organization.objects.filter(pk__in=moved).update(partner=second_partner)
    License.objects.filter(location__organization__in=moved).update(
        partner=second_partner, distributor=second_distributor
    )
    current.refresh_copies()  # the stored licenses' copies of their tenants
    organization = Organization.objects.filter(partner=partner).first()
    return {
        "staff": make_user("scale-staff", "staff"),
        "distributor": make_user("scale-dist", "distributor", second_distributor),
        "partner": make_user("scale-partner", "partner", second_partner),
        "organization": make_user("scale-org", "organization", organization),
    }


def every_page(client, url, params, page_size=37) -> tuple[list, list]:
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


def old_search(fields, q) -> Q:
    """``q`` as the lists searched before: a join and ``icontains`` per column."""
    return reduce(
        and_,
        (
            reduce(or_, (Q(**{f"{field}__icontains": term}) for field in fields))
            for term in q.split()
        ),
        Q(),
    )


LICENSE_SEARCH = (
    "key",
    "organization__name",
    "location__name",
    "partner__name",
    "distributor__name",
)
LICENSE_CASES = [
    {
        "status": [S.IN_USE, S.PENDING_START],
        "end_after": "2027-03-10",
        "end_before": "2028-03-10",
        "q": "location 01",
        "ordering": "end_date",
    },
    {"status": [S.IN_USE], "q": "organization", "ordering": "-end_date"},
    {"status": [S.CONTRACT_FINALIZED], "ordering": "key"},
    {"q": "second 2", "ordering": "start_date"},
    {"q": "load 00 9"},
    {"end_before": "2026-01-01", "ordering": "-organization__name"},
    {"q": "nothing-has-this"},
    # the default order (newest first) and the others, with the filters that are read
    # matches first (wlm/lib/plans.py): an end-date range, ``q``, a status
    {"end_after": "2027-03-10", "end_before": "2028-03-10"},
    {"q": "location 01"},
    {"status": [S.IN_USE], "end_after": "2027-03-10", "ordering": "organization__name"},
    {"q": "organization 00", "ordering": "-limit"},
    {"end_after": "2026-06-01", "ordering": "-years"},
    {"q": "0", "ordering": "-created"},
    {"status": [S.PENDING_START, S.ACCESS_DENIED], "ordering": "-status"},
    {"end_before": "2028-01-01", "ordering": "-start_date"},
]


def license_reference(user, params):
    rows = License.objects.visible_to(user)
    if "status" in params:
        rows = rows.filter(status__in=params["status"])
    if "end_after" in params:
        rows = rows.filter(end_date__gte=params["end_after"])
    if "end_before" in params:
        rows = rows.filter(end_date__lte=params["end_before"])
    if "q" in params:
        rows = rows.filter(old_search(LICENSE_SEARCH, params["q"])).distinct()
    ordering = params.get("ordering")
    rows = rows.order_by(*by(ordering), "pk") if ordering else rows.order_by("-created", "-id")
    return list(rows.values_list("pk", flat=True))


# columns that can be empty: their empty rows come last, whichever way one sorts
EMPTY_LAST = {"start_date", "end_date", "organization__name", "license_status", "license_end"}


def by(ordering: str) -> list:
    """``?ordering=`` as the lists sort (docs/api.md, "Ordering")."""
    name = ordering.lstrip("-")
    if name not in EMPTY_LAST:
        return [ordering]
    column = F(name)
    return [
        column.desc(nulls_last=True) if ordering.startswith("-") else column.asc(nulls_last=True)
    ]


# every tenant in one test: the generated data is written once for the four of them
WHO = ("staff", "distributor", "partner", "organization")


@pytest.mark.parametrize("search_ids", [filters.SEARCH_IDS, 3])  # 3: the subquery path
@pytest.mark.parametrize("params", LICENSE_CASES)
def test_license_rows_are_those_of_the_plain_query(scale, api, monkeypatch, params, search_ids):
    monkeypatch.setattr(filters, "SEARCH_IDS", search_ids)
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 10_000)
    # on PostgreSQL the ids are read matches first (here, where the planner expects few
    # rows), or by the plain query (0: never): the same rows either way
    for matches_first in (plans.MATCHES_FIRST_UP_TO, 0):
        monkeypatch.setattr(plans, "MATCHES_FIRST_UP_TO", matches_first)
        for who in WHO:
            expected = license_reference(scale[who], params)
            ids, counts = every_page(api(scale[who]), LICENSES, params)
            assert ids == expected, (who, matches_first)
            assert {count for count, _capped in counts} == {len(expected)}, who


@pytest.mark.parametrize(
    "params",
    [
        {"end_after": "2027-03-10", "end_before": "2028-03-10"},
        {"q": "location 01", "ordering": "-organization__name"},
    ],
)
def test_the_licenses_page_lists_the_rows_of_the_plain_query(scale, client, monkeypatch, params):
    """The page reads its ids as the API does (matches first on PostgreSQL): its rows
    are the reference's first page, in order, and the count is the capped count."""
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 40)
    for who in WHO:
        client.force_login(scale[who])
        expected = license_reference(scale[who], params)
        text = client.get("/licenses/", params).content.decode()
        shown = [int(pk) for pk in re.findall(r'<tr data-key="[^"]*" data-id="(\d+)"', text)]
        assert shown == expected[:25], who
        if len(expected) > 40:
            assert "More than 40 licenses" in text, who
        else:
            assert f"{len(expected)} license" in text, who


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate")
def test_few_matches_are_read_first_and_many_by_the_order(scale, api, monkeypatch):
    """Matches first: the filtered rows in a subquery of their own (``OFFSET 0``), then
    sorted; with more matches than ``MATCHES_FIRST_UP_TO`` (by the planner's estimate),
    or no filter at all, the plain query, which walks the order's index."""
    client = api(scale["staff"])
    params = {"end_after": "2027-03-10", "end_before": "2028-03-10"}

    def id_queries(params):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LICENSES, params).status_code == 200
        return [q["sql"] for q in queries if "licenses_license" in q["sql"]]

    assert any("OFFSET 0) AS matches" in sql for sql in id_queries(params))
    assert not any("OFFSET 0" in sql for sql in id_queries({}))  # staff: no filter
    monkeypatch.setattr(plans, "MATCHES_FIRST_UP_TO", 0)
    assert not any("OFFSET 0" in sql for sql in id_queries(params))


LOCATION_SEARCH = ("name", "address", "timezone", "organization__name")
LOCATION_CASES = [
    {"license_status": [S.IN_USE]},
    {"license_status": [S.PENDING_START, S.ACCESS_DENIED, "none"], "ordering": "-name"},
    {"license_status": [S.PENDING_PROVISION], "sector": ["retail", "office"]},
    {"sector": ["hospitality"], "q": "organization 0000"},
    {
        "license_end_after": "2027-03-10",
        "license_end_before": "2027-09-10",
        "ordering": "license_end",
    },
    # by license end: read in two parts (locations.queries.by_license_end)
    {"ordering": "license_end"},
    {"ordering": "-license_end"},
    {"license_status": [S.IN_USE, S.PENDING_START, "none"], "ordering": "-license_end"},
    {"q": "location 01", "ordering": "license_end"},
]


def location_reference(user, params):
    rows = with_license(user).visible_to(user)
    statuses = [s for s in params.get("license_status", []) if s != "none"]
    if "license_status" in params:
        condition = Q(license_status__in=statuses)
        if "none" in params["license_status"]:
            condition |= Q(license_pk__isnull=True)
        rows = rows.filter(condition)
    if "sector" in params:
        rows = rows.filter(sector__in=params["sector"])
    if "license_end_after" in params:
        rows = rows.filter(license_end__gte=params["license_end_after"])
    if "license_end_before" in params:
        rows = rows.filter(license_end__lte=params["license_end_before"])
    if "q" in params:
        rows = rows.filter(old_search(LOCATION_SEARCH, params["q"]))
    ordering = params.get("ordering")
    rows = rows.order_by(*by(ordering), "pk") if ordering else rows.order_by("name", "id")
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


@pytest.mark.parametrize("params", LOCATION_CASES)
def test_location_rows_are_those_of_the_plain_query(scale, api, params):
    for who in WHO:
        expected = location_reference(scale[who], params)
        ids, counts = every_page(api(scale[who]), LOCATIONS, params)
        assert ids == expected, who
        assert {count for count, _capped in counts} <= {
            len(expected),
            pagination.COUNT_LIMIT,
        }, who


@pytest.mark.parametrize("ordering", ["license_end", "-license_end"])
def test_locations_by_license_end_read_in_two_parts_keep_the_plain_order(
    scale, api, monkeypatch, ordering
):
    """Sorted by license end, the ids are read in two parts (``by_license_end``): the
    locations with a visible, dated license from ``CurrentLicense``'s copies, then the
    others by id. With licenses the distributor does not see (masked: they sort with the
    empty ones) and a count limit that ends inside either part, every page is the plain
    query's."""
    first = Distributor.objects.get(name=load.DISTRIBUTOR)
    second = Distributor.objects.get(name="Second Dist")
    hidden = CurrentLicense.objects.filter(license__distributor=second, end_date__isnull=False)
    hidden = list(hidden.values_list("license_id", flat=True)[:5])
    assert len(hidden) == 5
    License.objects.filter(pk__in=hidden).update(distributor=first)
    current.refresh_copies()  # the copies of their distributor
    params = {"ordering": ordering}
    for limit in (4, 30, 1000):
        monkeypatch.setattr(pagination.CappedPaginator, "limit", limit)
        for who in WHO:
            expected = location_reference(scale[who], params)
            ids, _counts = every_page(api(scale[who]), LOCATIONS, params, page_size=7)
            assert ids == expected, (who, limit)
    # the distributor's hidden ones came after every dated one it sees, by id
    user = scale["distributor"]
    shown = with_license(user).visible_to(user).filter(current__license__in=hidden)
    assert set(shown.values_list("license_end", flat=True)) == {None}


def test_count_stops_at_the_limit_and_every_page_is_still_reached(scale, api, monkeypatch):
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 100)
    client = api(scale["staff"])
    total = License.objects.count()
    assert total > 300
    first = client.get(LICENSES, {"page_size": 30}).json()
    assert (first["count"], first["count_capped"]) == (100, True)
    assert first["next"]
    # a page past the limit counts up to its end, and says whether more follow
    page = client.get(LICENSES, {"page_size": 30, "page": 5}).json()
    assert (page["count"], page["count_capped"]) == (150, True)
    assert len(page["results"]) == 30
    # the last page counts everything
    last = client.get(LICENSES, {"page_size": 30, "page": "last"}).json()
    assert (last["count"], last["count_capped"]) == (total, False)
    assert last["next"] is None
    assert len(last["results"]) == total - 30 * (-(-total // 30) - 1)
    # under the limit the count is exact
    few = client.get(LICENSES, {"status": S.PENDING_START}).json()
    assert (few["count"], few["count_capped"]) == (
        License.objects.filter(status=S.PENDING_START).count(),
        False,
    )
    # past the end: 404 as before
    assert client.get(LICENSES, {"page_size": 30, "page": total}).status_code == 404


def test_pages_say_more_than_the_limit(scale, client, monkeypatch):
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 100)
    client.force_login(scale["staff"])
    text = client.get("/licenses/").content.decode()
    assert 'data-testid="licenses-count">More than 100 licenses<' in text
    assert "Page 1 of many" in text
    text = client.get("/licenses/", {"status": S.ACCESS_DENIED}).content.decode()
    count = License.objects.filter(status=S.ACCESS_DENIED).count()
    assert 1 < count < 100
    assert f'data-testid="licenses-count">{count} licenses<' in text
    assert "Page 1 of 1" not in text or count <= 25


def test_the_last_page_of_a_page_counts_every_row(scale, client, monkeypatch):
    """``?page=last`` on a page is the true last page, as in the API: counted in full,
    not the last page of the capped count."""
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 100)
    client.force_login(scale["staff"])
    expected = license_reference(scale["staff"], {})
    pages = -(-len(expected) // 25)
    assert pages > 5
    text = client.get("/licenses/", {"page": "last"}).content.decode()
    shown = [int(pk) for pk in re.findall(r'<tr data-key="[^"]*" data-id="(\d+)"', text)]
    assert shown == expected[(pages - 1) * 25 :]
    assert f"Page {pages} of {pages}" in text
    assert f'data-testid="licenses-count">{len(expected)} licenses<' in text


@pytest.mark.parametrize(
    "params",
    [{}, {"status": [S.CONTRACT_FINALIZED], "ordering": "end_date"}, {"q": "location 01"}],
)
def test_csv_streams_every_filtered_row(scale, api, params, monkeypatch):
    monkeypatch.setattr(pagination.CappedPaginator, "limit", 10)  # no effect on the CSV
    monkeypatch.setattr("wlm.lib.csv.CSV_CHUNK", 7)  # many chunks
    user = scale["staff"]
    response = api(user).get(LICENSES, {**params, "format": "csv"})
    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(row["id"]) for row in rows] == license_reference(user, params)


def test_location_csv_streams_every_filtered_row(scale, api):
    user = scale["partner"]
    params = {"license_status": [S.IN_USE]}
    response = api(user).get(LOCATIONS, {**params, "format": "csv"})
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["id"] for row in rows] == location_reference(user, params)
    assert {row["license_status"] for row in rows} == {S.IN_USE}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes: PostgreSQL")
def test_the_list_indexes_exist_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == ("pg_trgm",)
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        indexes = dict(cursor.fetchall())
    assert "gin_trgm_ops" in indexes["license_key_trgm"]
    assert "upper" in indexes["license_key_trgm"]
    for name in ("location_name_fold_trgm", "organization_name_fold_trgm"):
        assert "gin_trgm_ops" in indexes[name]
        assert "wlm_fold" in indexes[name]  # accents and case aside (wlm/lib/search.py)
    assert (
        "INCLUDE (status, distributor_id, partner_id, organization_id)"
        in (indexes["license_id_scope_idx"])
    )
    for name in ("location_address_fold_trgm", "location_timezone_fold_trgm"):
        assert "gin_trgm_ops" in indexes[name] and "wlm_fold" in indexes[name]  # q's columns
    # the locations list by license end, and its status filter (licenses 0011)
    assert "(end_date, location_id)" in indexes["current_license_end_asc_idx"]
    assert "(end_date DESC NULLS LAST, location_id)" in indexes["current_license_end_desc_idx"]
    assert "(status, end_date, location_id)" in indexes["current_license_status_idx"]
    # the licenses list read matches first (licenses 0012): an end range with its order's
    # column, the newest-first walk with the end date
    assert "INCLUDE (created, status" in indexes["license_end_asc_idx"]
    assert "(created, id) INCLUDE (end_date, status" in indexes["license_created_idx"]
    assert "(name, id)" in indexes["location_name_idx"]
    assert "(location_id, created, license_id)" in indexes["assignment_location_idx"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes: PostgreSQL")
def test_search_reads_the_trigram_index(scale):
    """The query ``q`` sends for a related name can use the trigram index."""
    found = Location.objects.filter(folded_contains("name", "0123")).values("id")
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        # few rows here: ask for the plan the planner picks on a big table (bitmap)
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "location_name_fold_trgm" in plan
