"""Lists at scale (docs/performance.md): the indexes, the capped count, the page read by
id and the ``q`` rewritten for PostgreSQL keep every list's rows what they were.

The reference of each case is the plain query the lists ran before (joins for ``q``,
no cap): the API's rows must be exactly those, in the same order, on every page.
Speed is measured by ``make bench BENCH=lists``, not here.
"""

import csv
import datetime as dt
import io
from functools import reduce
from operator import and_, or_

import pytest
import time_machine
from django.db import connection
from django.db.models import F, Q

from wlm.conftest import make_user
from wlm.demo import load
from wlm.lib import filters, pagination
from wlm.lib.search import folded_contains
from wlm.licenses.models import License, LicenseStatus
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
    for who in WHO:
        expected = license_reference(scale[who], params)
        ids, counts = every_page(api(scale[who]), LICENSES, params)
        assert ids == expected, who
        assert {count for count, _capped in counts} == {len(expected)}, who


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
