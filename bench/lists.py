"""``make bench BENCH=lists``: the licenses and locations lists at platform scale.

On PostgreSQL with 1,000,000 licenses (``generate_load --locations 200000 --history 4``,
``--lists-locations`` or ``LISTS_LOCATIONS`` locations, in the database ``lists_bench``,
dropped and created again; ``LISTS_DATABASE_URL`` measures that database instead, migrated
forward, generated if missing or empty: ``database()``, shared with bench/pages.py),
one tenth of the customers moved to a second partner and distributor (so a partner or
distributor user sees a share of the rows, not everything), measures:

- the licenses list filtered by status, end-date range and ``q``, sorted, page 1;
- the locations list with ``license_status``, page 1;

each as the p95 of ``--lists-calls`` or ``LISTS_CALLS`` calls (100) in process (Django's
test client: the whole middleware and view stack, no socket) and over HTTP through the
production server (``bench/common.py``'s ``server()``), as a staff user and as the second
distributor's and partner's users (goal < 50 ms); and the CSV exports of 10,000 and of
100,000 licenses and locations (``--csv-rows``; licenses: finalized ones up to an end
date; locations: up to their license's end date), as staff:

- rows/s of the larger export (goal >= 50,000), the median of ``EXPORT_RUNS`` runs in
  process (the test client, the streamed body read to the end) and over HTTP (the
  production server, read to the end), the lower of the two counting; beside it, as its
  ceiling, the floor measured in the same run: the same query's rows read the same way
  and written by ``csv.writer`` to a null sink, no cells made, no response, no HTTP (the
  ratio is what the export and the server add); one export under cProfile, printed
  when the goal is missed;
- the peak Python memory (tracemalloc, in runs of their own) of each export; goal:
  flat, the 100,000-row export needs no more than 1.5 times the 10,000-row one.

``bench_lists(args)`` is the target of bench/run.py; this file, run as a script, is the
in-process part (``prepare``, ``measure``, ``generated``) and runs in its own process
with Django set up.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import http.client
import json
import os
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlencode

from common import (
    PORT,
    cprofile_summary,
    database_exists,
    django_setup,
    fresh_database,
    log,
    manage,
    script_result,
    server,
    settle,
    timed,
)

DATABASE = "lists_bench"
GOAL_MS = 50
SHARE = 10  # one organization in SHARE moves to the second partner and distributor
CSV_ROWS = (10_000, 100_000)
MEMORY_RATIO = 1.5
EXPORT_GOAL = 50_000  # rows/s of the larger CSV export, in process and over HTTP
EXPORT_RUNS = 3  # runs of the larger export each way (and of its floor); the median counts
PROFILE_TOP = 12  # lines of each list of an export's cProfile
USERS = ("staff", "distributor", "partner")
# LISTS_LOCATIONS: locations generated, with 5 licenses each (1,000,000 licenses)
LOCATIONS = int(os.environ.get("LISTS_LOCATIONS", "200000"))
CALLS = int(os.environ.get("LISTS_CALLS", "100"))  # calls of each list, each way


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lists-locations",
        type=int,
        default=LOCATIONS,
        help="lists: locations, with 5 licenses each (LISTS_LOCATIONS, 200,000 by default)",
    )
    parser.add_argument(
        "--lists-calls",
        type=int,
        default=CALLS,
        help="lists: calls of each list, each way (LISTS_CALLS, 100 by default)",
    )
    parser.add_argument(
        "--csv-rows",
        type=int,
        nargs=2,
        default=CSV_ROWS,
        metavar=("SMALL", "LARGE"),
        help="lists: the rows of the two CSV exports compared (10,000 and 100,000)",
    )


# --- The database, from the driver's process (bench/run.py) --------------------------

_generated: list[str] = []  # the database generated in this run (lists and pages share it)


def database(locations: int) -> str:
    """The URL of the lists' database (``locations`` locations, 5 licenses each).

    ``LISTS_DATABASE_URL``: that database, migrated forward first (the code measured needs
    its tables), and generated if it is missing or holds no generated data. Otherwise
    ``lists_bench``, dropped and generated again, once per run (the ``pages`` target
    measures the same database)."""
    url = os.environ.get("LISTS_DATABASE_URL") or ""
    if url:
        fresh = not database_exists(url)
        manage(url, "migrate", "--noinput", "-v0")
        if fresh or not script_result(url, Path(__file__).resolve(), "generated")["generated"]:
            _generate(url, locations)
        return url
    if not _generated:
        url = fresh_database("postgres", DATABASE)
        manage(url, "migrate", "--noinput", "-v0")
        _generate(url, locations)
        _generated.append(url)
    return _generated[0]


def _generate(url: str, locations: int) -> None:
    log(f"lists: generating {locations * 5:,} licenses (a few minutes)")
    manage(url, "generate_load", "--locations", str(locations), "--history", "4")


# --- In process: Django set up on the benchmark database ------------------------------


def generated() -> bool:
    """Whether ``generate_load`` wrote this database's data."""
    from wlm.demo import load
    from wlm.tenancy.models import Partner

    return Partner.objects.filter(name=load.PARTNER).exists()


def split_tenants():
    """A second partner and distributor own one organization in ``SHARE`` and its
    licenses (done once), so that their users see a share of the rows: the second
    distributor and partner."""
    from django.db import connection
    from django.db.models import F

    from wlm.demo import load
    from wlm.licenses import current
    from wlm.licenses.models import CurrentLicense, License
    from wlm.tenancy.models import Distributor, Organization, Partner

    partner = Partner.objects.get(name=load.PARTNER)
    second_distributor, _ = Distributor.objects.get_or_create(
        name="Lists Distribution B", defaults={"email": "b@lists.example"}
    )
    second_partner, created = Partner.objects.get_or_create(
        name="Lists Partner B", defaults={"email": "b@lists-partner.example"}
    )
    if created:
        second_partner.distributors.add(second_distributor)
        moved = Organization.objects.alias(share=F("id") % SHARE).filter(partner=partner, share=0)
        moved.update(partner=second_partner)
        License.objects.filter(location__organization__partner=second_partner).update(
            partner=second_partner, distributor=second_distributor
        )
        # the stored licenses' copies of their tenants (the locations list filters on them)
        current.refresh_copies(CurrentLicense.objects.filter(license__partner=second_partner))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return second_distributor, second_partner


def prepare(csv_rows: tuple[int, int] = CSV_ROWS) -> dict:
    """The benchmark's users and scope on generated data (``generate_load``): the
    tenants split (``split_tenants``); the list URLs, the users' tokens and the CSV
    filters that select 10,000 and 100,000 rows."""
    from django.contrib.auth import get_user_model

    from wlm.lib import clock
    from wlm.licenses.models import License, LicenseStatus
    from wlm.locations.queries import with_license
    from wlm.tenancy import tokens as api_tokens
    from wlm.tenancy.models import Membership, Role

    second_distributor, second_partner = split_tenants()
    tokens = {}
    tenants = {
        "staff": {"tenant_type": "staff"},
        "distributor": {"tenant_type": "distributor", "distributor": second_distributor},
        "partner": {"tenant_type": "partner", "partner": second_partner},
    }
    for name, membership in tenants.items():
        user, _ = get_user_model().objects.get_or_create(
            username=f"lists-{name}", defaults={"email": f"{name}@lists.example"}
        )
        Membership.objects.get_or_create(user=user, defaults={**membership, "role": Role.ADMIN})
        # a new token per run: a secret cannot be read back (wlm.tenancy.tokens)
        tokens[name] = api_tokens.issue(user, "bench lists")[1]

    today = clock.now().date()
    licenses = {
        "status": [LicenseStatus.IN_USE, LicenseStatus.PENDING_START],
        "end_after": today.isoformat(),
        "end_before": (today + dt.timedelta(days=365)).isoformat(),
        "q": "0123",
        "ordering": "end_date",
    }
    lists = {
        "licenses": f"/api/v1/licenses/?{urlencode(licenses, doseq=True)}",
        "locations": "/api/v1/locations/?license_status=in_use",
    }
    # CSV exports of N finalized licenses: those ending up to the N-th end date; of N
    # locations: those whose license (as staff sees it) ends up to the N-th end date
    ends = License.objects.filter(status=LicenseStatus.CONTRACT_FINALIZED).order_by("end_date")
    staff = get_user_model().objects.get(username="lists-staff")
    location_ends = (
        with_license(staff).filter(license_end__isnull=False).order_by("license_end", "pk")
    )
    exports: dict = {"licenses": {}, "locations": {}}
    for rows in csv_rows:
        last = ends.values_list("end_date", flat=True)[rows - 1]
        query = {"status": LicenseStatus.CONTRACT_FINALIZED, "end_before": last, "format": "csv"}
        exports["licenses"][str(rows)] = f"/api/v1/licenses/?{urlencode(query)}"
        last = location_ends.values_list("license_end", flat=True)[rows - 1]
        query = {"license_end_before": last, "format": "csv"}
        exports["locations"][str(rows)] = f"/api/v1/locations/?{urlencode(query)}"
    return {
        "tokens": tokens,
        "lists": lists,
        "exports": exports,
        "licenses": License.objects.count(),
    }


def measure(setup: dict, calls: int) -> dict:
    """In process: p95 of ``calls`` calls of each list by each user (Django's test client
    with the user's token), the count and rows of page 1; the CSV exports' memory, and
    the larger ones' rows/s, floor and profile."""
    from django.test import Client

    results: dict = {"lists": {}, "exports": {}}
    for user in USERS:
        client = Client(HTTP_AUTHORIZATION=f"Token {setup['tokens'][user]}")
        for name, url in setup["lists"].items():

            def call(url=url, client=client):
                response = client.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
                return response

            page = json.loads(call().content)
            results["lists"][f"{name}/{user}"] = {
                **timed(call, calls),
                "count": page["count"],
                "count_capped": page.get("count_capped"),
                "rows": len(page["results"]),
            }
    client = Client(HTTP_AUTHORIZATION=f"Token {setup['tokens']['staff']}")
    for name, urls in setup["exports"].items():
        sizes = sorted(urls, key=int)
        results["exports"][name] = {
            rows: {"url": url, **_streamed(client, url, memory=True)} for rows, url in urls.items()
        }
        large = results["exports"][name][sizes[-1]]
        runs = [_streamed(client, large["url"]) for _ in range(EXPORT_RUNS)]
        floors = [_floor(client, large["url"], large["rows"]) for _ in range(EXPORT_RUNS)]
        large["in_process"] = _median(runs)
        large["floor"] = _median(floors)
        large["profile"] = _export_profile(client, large["url"])
    return results


def _streamed(client, url: str, memory: bool = False) -> dict:
    """One CSV export through Django's test client (the whole middleware and view stack),
    its streamed body read to the end: rows, bytes, seconds, rows/s; with ``memory``, the
    peak Python memory (tracemalloc, which slows the run: the speed runs go without)."""
    if memory:
        tracemalloc.start()
    start = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - start
    found = {"rows": lines - 1, "bytes": size, "seconds": round(seconds, 3)}
    found["rows_per_s"] = round(found["rows"] / seconds)
    if memory:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        found["peak_mib"] = round(peak / 2**20, 1)
    return found


def _export_of(client, url: str):
    """The ``Export`` and the queryset that ``url``'s list hands it (its FilterSet, the
    tenancy door, its order), caught on their way in."""
    from wlm.lib.csv import Export

    caught = {}
    lines = Export.lines

    def catch(export, queryset):
        caught.update(export=export, queryset=queryset)
        return iter(())

    Export.lines = catch
    try:
        client.get(url)
    finally:
        Export.lines = lines
    return caught["export"], caught["queryset"]


class _Null:
    def write(self, text):
        return None


def _floor(client, url: str, exported: int) -> dict:
    """The floor beside an export's figure: the same query's rows (``Export.rows``: the
    list's queryset, every source), read as the export reads them (``reading``,
    ``fetched``), written by ``csv.writer`` to a null sink: no cells made, no folding of
    the to-many joins, no response, no HTTP. Its rows/s count the ``exported`` rows (the
    query's rows repeat a row once per related row of a to-many column: ``read``)."""
    import csv
    from contextlib import closing

    from django.db import connections

    from wlm.lib.csv import CSV_CHUNK, _chunks, fetched, reading

    export, queryset = _export_of(client, url)
    writer = csv.writer(_Null())
    start = time.perf_counter()
    rows = export.rows(queryset)
    read = 0
    with reading(connections[rows.db]), closing(fetched(rows)) as fetching:
        for chunk in _chunks(fetching, CSV_CHUNK):
            writer.writerows(chunk)
            read += len(chunk)
    seconds = time.perf_counter() - start
    return {
        "rows": exported,
        "read": read,
        "seconds": round(seconds, 3),
        "rows_per_s": round(exported / seconds),
    }


def _median(runs: list[dict]) -> dict:
    """The run of median speed, and every run's rows/s."""
    ranked = sorted(runs, key=lambda run: run["rows_per_s"])
    return {**ranked[len(ranked) // 2], "runs": [run["rows_per_s"] for run in runs]}


def _export_profile(client, url: str, top: int = PROFILE_TOP) -> str:
    """cProfile of one export in process: the functions with the most time of their own,
    then the project's with the most cumulative time (``top`` each)."""
    profile = cProfile.Profile()
    profile.enable()
    for _chunk in client.get(url).streaming_content:
        pass
    profile.disable()
    return cprofile_summary(profile, top)


# --- Over HTTP, from the driver's process (bench/run.py) -----------------------------


def measure_http(setup: dict, calls: int, port: int) -> dict:
    results = {}
    for user in USERS:
        headers = {"Authorization": f"Token {setup['tokens'][user]}"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for name, url in setup["lists"].items():

            def call(url=url, headers=headers, connection=connection):
                connection.request("GET", url, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise SystemExit(f"{url}: {response.status} {body[:300]!r}")

            results[f"{name}/{user}"] = timed(call, calls)
        connection.close()
    headers = {"Authorization": f"Token {setup['tokens']['staff']}"}
    for name, urls in setup["exports"].items():
        url = urls[max(urls, key=int)]
        runs = [_streamed_http(url, headers, port) for _ in range(EXPORT_RUNS)]
        results[f"export/{name}"] = _median(runs)
    return results


def _streamed_http(url: str, headers: dict, port: int) -> dict:
    """One CSV export through the production server, its body read to the end."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.request("GET", url, headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"{url}: {response.status} {response.read()[:300]!r}")
    lines = size = 0
    while block := response.read(2**16):
        lines += block.count(b"\n")
        size += len(block)
    seconds = time.perf_counter() - start
    connection.close()
    return {
        "rows": lines - 1,
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_s": round((lines - 1) / seconds),
    }


def bench_lists(args) -> dict:
    """The target ``lists`` of bench/run.py (see the module's docstring)."""
    url = database(args.lists_locations)
    csv_rows = [str(rows) for rows in args.csv_rows]
    setup = script_result(url, Path(__file__).resolve(), "prepare", "--csv-rows", *csv_rows)
    settle(url)
    calls = str(args.lists_calls)
    log(f"lists: {setup['licenses']:,} licenses; {calls} calls of each list, in process")
    measured = script_result(
        url, Path(__file__).resolve(), "measure", "--calls", calls, "--setup", json.dumps(setup)
    )
    log("lists: over HTTP")
    with server("wlm.wsgi:application", url):
        over_http = measure_http(setup, args.lists_calls, PORT)

    licenses = setup["licenses"]
    rows = []
    for key, in_process in measured["lists"].items():
        name, user = key.split("/")
        http_figures = over_http[key]
        figure = max(in_process["p95_ms"], http_figures["p95_ms"])
        what = (
            "licenses: status + end range + q, by end date"
            if name == "licenses"
            else "locations: license_status"
        )
        rows.append(
            {
                "benchmark": f"lists: {what}, page 1, {user} ({licenses:,} licenses)",
                "figure": figure,
                "ceiling": None,
                "unit": "ms (p95)",
                "ratio": None,
                "goal": f"< {GOAL_MS} ms p95 in process and over HTTP",
                "pass": figure < GOAL_MS,
                "detail": {
                    "url": setup["lists"][name],
                    "in_process": in_process,
                    "http": http_figures,
                },
            }
        )
    for name, exported in measured["exports"].items():
        small, large = (exported[size] for size in csv_rows)
        in_process, http_figures = large["in_process"], over_http[f"export/{name}"]
        figure = min(in_process["rows_per_s"], http_figures["rows_per_s"])
        floor = large["floor"]["rows_per_s"]
        rows.append(
            {
                "benchmark": f"lists: CSV export of {large['rows']:,} {name}, rows/s",
                "figure": figure,
                "ceiling": floor,
                "unit": "rows/s",
                "ratio": round(figure / floor, 3),
                "goal": f">= {EXPORT_GOAL:,} rows/s in process and over HTTP "
                "(ceiling: the same rows written by csv.writer to a null sink, no HTTP)",
                "pass": figure >= EXPORT_GOAL,
                "detail": {
                    "url": large["url"],
                    "in_process": in_process,
                    "http": http_figures,
                    "floor": large["floor"],
                    # where the time goes: printed when the goal is missed
                    "profile": large["profile"],
                },
            }
        )
        if figure < EXPORT_GOAL:
            log(
                f"lists: CSV export of {name}: {figure:,} rows/s, "
                f"{1 - figure / EXPORT_GOAL:.0%} short of {EXPORT_GOAL:,}; one export under "
                f"cProfile:\n{large['profile']}"
            )
        rows.append(
            {
                "benchmark": f"lists: CSV export of {large['rows']:,} {name}, peak memory",
                "figure": large["peak_mib"],
                "ceiling": None,
                "unit": "MiB",
                "ratio": None,
                "goal": f"flat: <= {MEMORY_RATIO} x the {small['rows']:,}-row export "
                f"({small['peak_mib']} MiB)",
                "pass": large["peak_mib"] <= MEMORY_RATIO * small["peak_mib"],
                "detail": {size: exported[size] for size in csv_rows},
            }
        )
    log("lists: " + "; ".join(f"{row['benchmark']}: {row['figure']} {row['unit']}" for row in rows))
    return {
        "target": "lists",
        "parameters": {
            "licenses": licenses,
            "calls": args.lists_calls,
            "share": f"1 organization in {SHARE} with the second partner and distributor",
            "figures": "the larger p95 of in process and over HTTP",
        },
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The in-process part of the lists benchmark.")
    parser.add_argument("step", choices=["prepare", "measure", "generated"])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--setup", help="prepare's JSON (measure)")
    parser.add_argument("--csv-rows", type=int, nargs=2, default=CSV_ROWS, help="(prepare)")
    args = parser.parse_args()
    django_setup()
    if args.step == "generated":
        print(json.dumps({"generated": generated()}))
    elif args.step == "prepare":
        print(json.dumps(prepare(tuple(args.csv_rows))))
    else:
        setup = json.loads(args.setup) if args.setup else prepare(tuple(args.csv_rows))
        print(json.dumps(measure(setup, args.calls)))


if __name__ == "__main__":
    main()
