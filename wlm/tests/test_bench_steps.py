"""The benchmarks' in-process steps run against the code as it is: ``make bench`` is not
part of ``make test``, so a model or URL renamed under them would show only at the next
(hour-long) benchmark run. Here they run on a few generated locations: the pages' and the
growth's setup (users, requests, inbox items, cases) and one call of each growth case and
of its export, the lists' setup (tokens, list URLs, the CSV exports' filters)."""

import sys
from pathlib import Path

import pytest

from wlm.demo import load

BENCH = Path(__file__).resolve().parents[2] / "bench"
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import growth
        import lists
        import pages

        yield pages, growth, lists
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def generated():
    return load.generate(40, seed=3, history=1)


def test_pages_and_growth_setup_and_measure(bench_modules, generated):
    _pages, growth, _lists = bench_modules
    setup = growth.prepare(requests=20, inbox=10)
    keys = [case["key"] for case in setup["cases"]]
    assert len(keys) == len(set(keys))
    assert {case["tenant"] for case in setup["cases"]} == set(growth.TENANTS)
    assert setup["export"]
    found = growth.measure(setup, calls=1, export_calls=1)
    assert set(found["cases"]) == set(keys)
    assert found["export"]["rows"] > 0


def test_pages_cases_cover_every_tenant_and_list(bench_modules, generated):
    pages, _growth, _lists = bench_modules
    setup = pages.prepare(requests=20, inbox=10)
    assert {case["tenant"] for case in setup["cases"]} == set(pages.TENANTS)
    names = {case["name"] for case in setup["cases"]}
    assert {"dashboard", "licenses, page 1", "locations, page 1", "inbox, page 1"} <= names
    assert any(name.startswith("API: ") for name in names)


def test_lists_setup(bench_modules, generated):
    _pages, _growth, lists = bench_modules
    setup = lists.prepare(csv_rows=(2, 4))
    assert set(setup["tokens"]) == {"staff", "distributor", "partner"}
    assert set(setup["exports"]) == {"licenses", "locations"}
