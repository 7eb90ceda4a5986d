"""``make bench BENCH=growth``: how each cost grows with the data — the same lists,
dashboard, export and entitlement check at several sizes in one run, and a plot.

Sizes: ``--growth-sizes`` licenses (10,000, 100,000 and 1,000,000 by default), each a
PostgreSQL database generated as the lists target generates its own (``generate_load
--locations size/5 --history 4``: five licenses a location, bench/lists.py's
``_generate``), called ``<GROWTH_DATABASE>_<size>`` (GROWTH_DATABASE: ``growth_bench``),
kept between runs (migrated forward; generated if missing or empty; ``--growth-fresh``
drops and generates them again). The lists target's size (``--lists-locations`` times 5,
1,000,000) is the lists target's database (``lists.database()``: ``LISTS_DATABASE_URL``,
or the one generated in this run, as the pages target does).

At each size, as bench/pages.py prepares and measures its pages (``pages.prepare``: the
tenants split, the largest partner, the requests and inbox items; ``pages.measure``:
Django's test client in process, the whole middleware and view stack), the p95 of
``--growth-calls`` calls (30) of:

- the dashboard, the licenses list (page 1 and a deep page, page 50), the locations
  list (page 1) and the API's licenses list (page 1), each as staff and as the largest
  partner;
- the entitlement check through Django's view (``/api/v1/locations/{id}/entitlement/``,
  in process, no wrk: the lean path answers from a per-process cache and falls back to
  the same read);
- the CSV export of every license the partner sees (``/api/v1/licenses/?format=csv``):
  its seconds and rows/s, the fastest of ``--growth-export-calls`` (2).

Verdicts, between the smallest and the largest size: a page or a list is "flat" when its
p95 grew less than ``FLAT_RATIO`` (2) times, the export "linear" when its time per row
did; anything else "GROWS", and for it what grew (``queries``: each query of the call
timed at the smallest and the largest size, the median of ``QUERY_RUNS`` calls, and the
time outside SQL) and the largest size's diagnosis (bench/pages.py's ``diagnose``: one
call's queries, the slowest with its ``EXPLAIN ANALYZE``, a profile). The table shows each
p95 beside its median: a p95 that doubles while the median stays is the machine's noise.

Written: ``bench/results/growth.json`` (the rows of the README's table),
``bench/results/growth.md`` (every figure, the ratios, the verdicts and the diagnoses)
and ``bench/results/growth.svg`` (matplotlib: p95 in ms against licenses, log-log, one
line per measurement), shown in ``bench/results/README.md``.

``bench_growth(args)`` is the target of bench/run.py; this file, run as a script, is the
in-process part (``prepare``, ``measure``, ``diagnose``, ``queries``) in its own process
with Django.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import lists
import pages
import psycopg
from common import (
    PG_URL,
    RESULTS,
    WORK,
    database_exists,
    django_setup,
    log,
    manage,
    script_result,
)

SIZES = (10_000, 100_000, 1_000_000)
CALLS = 30
EXPORT_CALLS = 2  # the fastest of these exports counts (the machine's noise)
QUERY_RUNS = 5  # calls whose queries are timed (what grew), each query's median counts
FLAT_RATIO = 2.0  # a page or list is flat when its p95 grew less than this
LINEAR_RATIO = 2.0  # an export is linear when its time per row grew less than this
DATABASE = os.environ.get("GROWTH_DATABASE", "growth_bench")  # a database per size: _<size>
TENANTS = ("staff", "partner")
# bench/pages.py's cases measured at each size (their names there)
PAGES = (
    "dashboard",
    "licenses, page 1",
    "licenses, deep page",
    "locations, page 1",
    "API: license list, page 1",
)
ENTITLEMENT = "entitlement check (Django view)"
EXPORT = "CSV export of the partner's licenses"
SCRIPT = Path(__file__).resolve()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--growth-sizes",
        type=int,
        nargs="+",
        default=SIZES,
        metavar="LICENSES",
        help="growth: the sizes measured, in licenses (10,000 100,000 1,000,000)",
    )
    parser.add_argument(
        "--growth-calls",
        type=int,
        default=CALLS,
        help=f"growth: calls of each page at each size ({CALLS} by default)",
    )
    parser.add_argument(
        "--growth-export-calls",
        type=int,
        default=EXPORT_CALLS,
        help=f"growth: exports at each size, the fastest counts ({EXPORT_CALLS} by default)",
    )
    parser.add_argument(
        "--growth-fresh",
        action="store_true",
        help="growth: drop the sizes' databases and generate them again",
    )


# --- The databases, from the driver's process (bench/run.py) -------------------------


def _database(licenses: int, args) -> str:
    """The URL of the database of ``licenses`` licenses (see the module's docstring)."""
    locations = max(licenses // 5, 1)
    if locations == args.lists_locations:
        return lists.database(locations)
    name = f"{DATABASE}_{licenses}"
    url = urlunsplit(urlsplit(PG_URL)._replace(path=f"/{name}"))
    if args.growth_fresh:
        with psycopg.connect(PG_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    fresh = not database_exists(url)
    manage(url, "migrate", "--noinput", "-v0")
    if fresh or not script_result(url, Path(lists.__file__).resolve(), "generated")["generated"]:
        lists._generate(url, locations)
    return url


# --- In process: Django set up on one size's database ---------------------------------


def prepare(requests: int, inbox: int) -> dict:
    """bench/pages.py's users, sessions, tokens and written data, its cases of ``PAGES``
    for ``TENANTS``, the entitlement check of a location in use and the partner's export."""
    from wlm.licenses.models import License, LicenseStatus

    setup = pages.prepare(requests, inbox)
    wanted = {f"{name} | {tenant}" for name in PAGES for tenant in TENANTS}
    cases = [case for case in setup["cases"] if case["key"] in wanted]
    location = (
        License.objects.filter(status=LicenseStatus.IN_USE, location__isnull=False)
        .order_by("pk")
        .values_list("location_id", flat=True)
        .first()
    )
    cases.append(
        {
            "key": f"{ENTITLEMENT} | staff",
            "name": ENTITLEMENT,
            "tenant": "staff",
            "kind": "api",
            "url": pages._url("api:entitlement", location_pk=location),
            "headers": {},
            "deep": False,
            "goal": pages.API_GOAL_MS,
        }
    )
    return {**setup, "cases": cases, "export": pages._url("api:license-list", {"format": "csv"})}


def _export_client(setup: dict):
    """The partner's API client, as bench/pages.py makes it (its token)."""
    return pages._clients(setup)({"tenant": "partner", "kind": "api"})


def export(setup: dict, calls: int = EXPORT_CALLS) -> dict:
    """The fastest of ``calls`` streamed CSV exports of every license the partner sees:
    rows, bytes, seconds, rows/s."""
    found = [_export_once(_export_client(setup), setup["export"]) for _ in range(max(calls, 1))]
    return min(found, key=lambda one: one.get("seconds", float("inf")))


def _export_once(client, url: str) -> dict:
    start = time.perf_counter()
    response = client.get(url)
    if response.status_code != 200:
        return {"status": response.status_code, "error": response.content[:300].decode()}
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - start
    return {
        "url": url,
        "status": 200,
        "rows": lines - 1,
        "bytes": size,
        "seconds": round(seconds, 3),
        "rows_per_s": round((lines - 1) / seconds),
    }


def measure(setup: dict, calls: int, export_calls: int) -> dict:
    """``pages.measure`` of the cases, then the export."""
    cases = pages.measure(setup, setup["cases"], calls)
    return {"cases": cases, "export": export(setup, export_calls)}


def diagnose_export(setup: dict) -> dict:
    """Where one export spends its time, as ``pages.diagnose`` says it for a page: its
    queries (the slowest with its plan) and its profile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _export_client(setup)

    def call():
        return sum(len(chunk) for chunk in client.get(setup["export"]).streaming_content)

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        call()
        total = (time.perf_counter() - start) * 1000
    captured = [(float(query["time"]) * 1000, query["sql"]) for query in queries]
    slowest = max(captured, default=(0.0, ""))
    return {
        "call_ms": round(total, 1),
        "queries": len(captured),
        "sql_ms": round(sum(ms for ms, _sql in captured), 1),
        "slowest_ms": round(slowest[0], 1),
        "slowest_sql": slowest[1][: pages.SQL_CHARACTERS],
        "explain": pages._explain(slowest[1]) if slowest[1] else "",
        "profile": pages._profile(call),
    }


def queries(setup: dict, cases: list[dict]) -> dict:
    """Each case's queries timed one by one (``QUERY_RUNS`` calls, each query's median,
    the SQL with its placeholders) and the call's time outside them: what the report
    compares between the smallest and the largest size."""
    import statistics

    from django.db import connection

    client = pages._clients(setup)
    found = {}
    for case in cases:
        get = client(case)

        def call(url=case["url"], get=get, headers=case["headers"]):
            return get.get(url, headers=headers).content

        call()  # warm
        runs = []
        for _ in range(QUERY_RUNS):
            timed_queries: list[tuple[float, str]] = []

            def wrapper(execute, sql, params, many, context, timed_queries=timed_queries):
                start = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    timed_queries.append(((time.perf_counter() - start) * 1000, sql))

            start = time.perf_counter()
            with connection.execute_wrapper(wrapper):
                call()
            runs.append(((time.perf_counter() - start) * 1000, timed_queries))
        count = len(runs[0][1])
        same = [queries for _total, queries in runs if len(queries) == count]
        rows = [
            [round(statistics.median(run[n][0] for run in same), 2), same[0][n][1]]
            for n in range(count)
        ]
        outside = statistics.median(total - sum(ms for ms, _sql in qs) for total, qs in runs)
        found[case["key"]] = {
            "call_ms": round(statistics.median(total for total, _qs in runs), 1),
            "outside_sql_ms": round(outside, 1),
            "queries": rows,
        }
    return found


def _grown(small: dict, large: dict, top: int = 5) -> list[str]:
    """The queries whose time grew most between two sizes (paired by their position in
    the call when both made the same queries), and the time outside SQL."""
    lines = [
        f"One call (median of {QUERY_RUNS}): {small['call_ms']:,} ms → {large['call_ms']:,} ms; "
        f"outside SQL (Python, templates) {small['outside_sql_ms']:,} ms → "
        f"{large['outside_sql_ms']:,} ms.",
        "",
    ]
    if len(small["queries"]) != len(large["queries"]):
        return [
            *lines,
            f"The queries differ: {len(small['queries'])} → {len(large['queries'])}.",
            "",
        ]
    pairs = sorted(
        zip(small["queries"], large["queries"], strict=True),
        key=lambda pair: pair[1][0] - pair[0][0],
        reverse=True,
    )[:top]
    lines += ["| query (its start) | ms, smallest size | ms, largest size |", "|---|---:|---:|"]
    for (before, sql), (after, _sql) in pairs:
        text = " ".join(sql.split())[:160].replace("|", "\\|")
        lines.append(f"| `{text}…` | {before:,.2f} | {after:,.2f} |")
    return [*lines, ""]


# --- The report, from the driver's process --------------------------------------------


def _series(sizes: list[dict]) -> dict[str, dict]:
    """Each measurement's figures by size: ``{key: {"kind", "points": [(licenses, ms)]}}``
    (the export's points are its seconds, in ms, and its rows/s beside)."""
    series: dict[str, dict] = {}
    for size in sizes:
        for key, found in size["cases"].items():
            entry = series.setdefault(key, {"kind": "page", "points": [], "detail": []})
            entry["points"].append((size["licenses"], found.get("p95_ms")))
            entry["detail"].append(found)
        found = size["export"]
        entry = series.setdefault(f"{EXPORT} | partner", {"kind": "export", "points": []})
        entry.setdefault("detail", []).append(found)
        seconds = found.get("seconds")
        entry["points"].append((size["licenses"], seconds * 1000 if seconds else None))
    order = [*PAGES, ENTITLEMENT, EXPORT]

    def rank(key: str) -> tuple:
        name, tenant = key.split(" | ")
        return (order.index(name) if name in order else len(order), name, tenant)

    return {key: series[key] for key in sorted(series, key=rank)}


def _verdict(entry: dict) -> dict:
    """The ratio largest/smallest size (of the p95, or of the time per row for the
    export) and the verdict."""
    (_small, first), (_large, last) = entry["points"][0], entry["points"][-1]
    if not first or not last:
        return {"ratio": None, "verdict": "no answer"}
    if entry["kind"] == "export":
        small, large = entry["detail"][0], entry["detail"][-1]
        per_row = [found["seconds"] / max(found["rows"], 1) for found in (small, large)]
        ratio = per_row[1] / per_row[0]
        return {"ratio": ratio, "verdict": "linear" if ratio < LINEAR_RATIO else "GROWS"}
    ratio = last / first
    return {"ratio": ratio, "verdict": "flat" if ratio < FLAT_RATIO else "GROWS"}


def _plot(series: dict, path: Path) -> None:
    """p95 in ms against licenses, log-log, one line per measurement (staff solid, the
    partner dashed), the export's total time among them beside a line of slope 1 (what
    linear looks like)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: a small SVG
    plt.rcParams["svg.hashsalt"] = "growth"  # the same figures, the same file
    figure, axes = plt.subplots(figsize=(11, 6))
    colours = plt.get_cmap("tab10")
    names = list(dict.fromkeys(key.split(" | ")[0] for key in series))
    sizes: set = set()
    for key, entry in series.items():
        name, tenant = key.split(" | ")
        points = [(x, y) for x, y in entry["points"] if y]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        sizes.update(xs)
        export = entry["kind"] == "export"
        axes.plot(
            xs,
            ys,
            marker="o",
            linestyle="--" if tenant == "partner" else "-",
            color=colours(names.index(name) % 10),
            label=f"{name} ({tenant})" + (": its seconds, in ms" if export else ""),
        )
        if export and len(xs) > 1:
            axes.plot(
                [xs[0], xs[-1]],
                [ys[0], ys[0] * xs[-1] / xs[0]],
                linestyle=":",
                color="grey",
                label="linear from the export's first point (slope 1)",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sorted(sizes))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,g}"))
    axes.set_xlabel("licenses")
    axes.set_ylabel("ms: p95 of the calls in process (the export: the fastest call)")
    axes.set_title("make bench BENCH=growth: latency against the number of licenses")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    figure.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)


def _cell(found: dict, calls: int) -> str:
    if found.get("status") != 200:
        return f"{found.get('status', '—')} ✗"
    if "p95_ms" in found:
        fewer = found.get("calls", calls) < calls
        text = f"{found['p95_ms']:,.1f} ({found['median_ms']:,.1f})"
        return text + (f" ({found['calls']} calls)" if fewer else "")
    return f"{found['seconds']:,.2f} s, {found['rows']:,} rows, {found['rows_per_s']:,}/s"


def _report(series: dict, verdicts: dict, diagnosis: dict, parameters: dict, compared: dict) -> str:
    """bench/results/growth.md: the plot, every figure with its ratio and verdict, and for
    what grows: the queries that grew (``compared``) and the largest size's diagnosis."""
    sizes = parameters["licenses"]
    lines = [
        "# Growth: latency against the number of licenses (`make bench BENCH=growth`)",
        "",
        f"Written by bench/growth.py, {parameters['started']} to {parameters['ended']} "
        f"(load average {parameters['load']['start']} at the start, "
        f"{parameters['load']['end']} at the end; {os.cpu_count()} cores). In process "
        f"(Django's test client), p95 (median) of {parameters['calls']} calls in ms; the "
        "verdict reads the p95, the median shows what is noise; the export: the "
        f"fastest of {parameters['export_calls']}, its seconds, rows and rows/s. Databases: "
        + ", ".join(parameters["databases"])
        + ". Ratio: the largest size's figure over the "
        f"smallest's (the export: its time per row). Flat: ratio < {FLAT_RATIO:g}; linear: "
        f"the export's time per row grew less than {LINEAR_RATIO:g} times. Staff and the "
        f"largest partner ({parameters['tenants'].get('partner', '—')}). Queries: of one "
        "call at each size (the export's are not counted).",
        "",
        "![Latency against the number of licenses](growth.svg)",
        "",
        f"| measurement | {' | '.join(f'{size:,}' for size in sizes)} "
        f"| ratio {sizes[-1]:,} / {sizes[0]:,} | verdict | queries |",
        f"|---|{'---:|' * len(sizes)}---:|---|---:|",
    ]
    for key, entry in series.items():
        verdict = verdicts[key]
        ratio = "—" if verdict["ratio"] is None else f"{verdict['ratio']:.2f}"
        shown = verdict["verdict"]
        if shown not in ("flat", "linear"):
            shown = f"**{shown}**"
        cells = " | ".join(_cell(found, parameters["calls"]) for found in entry["detail"])
        queries = " / ".join(str(found.get("queries", "—")) for found in entry["detail"])
        lines.append(f"| {key.replace(' | ', ', ')} | {cells} | {ratio} | {shown} | {queries} |")
    grows = [key for key, verdict in verdicts.items() if verdict["verdict"] == "GROWS"]
    lines += ["", f"## Where it grows ({len(grows)} of {len(series)})", ""]
    if not grows:
        lines.append("Nowhere: every page and list is flat, the export linear.")
    for key in grows:
        found = diagnosis.get(key)
        lines += [f"### {key.replace(' | ', ', ')} (at {sizes[-1]:,} licenses)", ""]
        if not found:
            lines += ["No diagnosis (no answer at the largest size).", ""]
            continue
        profile = found["profile"]
        if key in compared:
            lines += [
                f"What grew, from {sizes[0]:,} to {sizes[-1]:,} licenses:",
                "",
                *_grown(*compared[key]),
            ]
        lines += [
            f"At {sizes[-1]:,}: one call in process: {found['call_ms']:,} ms; "
            f"{found['queries']} queries, "
            f"{found['sql_ms']:,} ms of SQL (the slowest {found['slowest_ms']:,} ms); "
            f"rendering the templates {profile['templates_share']:.0%} of the profiled call "
            f"({profile['total_ms']:,} ms under cProfile). The slowest query and its plan:",
            "",
            *pages.slowest_query(found),
            "cProfile of one call: the project's functions by cumulative time (top 10):",
            "",
            "```",
            profile["cumulative"],
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"


def _rows(series: dict, verdicts: dict, sizes: list[int]) -> list[dict]:
    """One row of the README's table per measurement: the largest size's figure, the
    ratio to the smallest size's and the verdict as pass/fail."""
    rows = []
    small, large = sizes[0], sizes[-1]
    for key, entry in series.items():
        verdict = verdicts[key]
        first, last = entry["detail"][0], entry["detail"][-1]
        answered = first.get("status") == 200 and last.get("status") == 200
        if entry["kind"] == "export":
            figure = last.get("rows_per_s", 0)
            unit = "rows/s"
            goal = (
                f"linear: time per row at {large:,} licenses < {LINEAR_RATIO:g} x at "
                f"{small:,} ({first.get('rows_per_s', '—'):,} rows/s; "
                f"{last.get('seconds', '—')} s for {last.get('rows', 0):,} rows)"
            )
        else:
            figure = last.get("p95_ms", 0)
            unit = "ms (p95)"
            goal = (
                f"flat: < {FLAT_RATIO:g} x the p95 at {small:,} licenses ({first.get('p95_ms')} ms)"
            )
        if verdict["verdict"] == "GROWS":
            goal += " (grows: why in growth.md)"
        rows.append(
            {
                "benchmark": f"growth: {key.replace(' | ', ', ')} ({large:,} licenses)",
                "figure": figure,
                "ceiling": None,
                "unit": unit,
                "ratio": None if verdict["ratio"] is None else round(verdict["ratio"], 3),
                "goal": goal,
                "pass": answered and verdict["verdict"] in ("flat", "linear"),
                "detail": {
                    "verdict": verdict["verdict"],
                    "by_size": dict(
                        zip((str(size) for size in sizes), entry["detail"], strict=True)
                    ),
                },
            }
        )
    return rows


def bench_growth(args) -> dict:
    """The target ``growth`` of bench/run.py (see the module's docstring)."""
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_start = round(os.getloadavg()[0], 1)
    WORK.mkdir(parents=True, exist_ok=True)
    measured = []
    with pages._data_dir():
        for licenses in sorted(args.growth_sizes):
            url = _database(licenses, args)
            if not measured:
                log("growth: collecting the static files (the pages' manifest)")
                manage(url, "collectstatic", "--noinput", "-v0")
            log(f"growth: {licenses:,} licenses: users, requests and inbox items")
            setup = pages.prepare_database(url, args, SCRIPT)
            setup_file = WORK / f"growth-setup-{licenses}.json"
            setup_file.write_text(json.dumps(setup))
            log(
                f"growth: {setup['licenses']:,} licenses: {len(setup['cases'])} pages and "
                f"lists, {args.growth_calls} calls each, and the export"
            )
            found = script_result(
                url,
                SCRIPT,
                "measure",
                "--calls",
                str(args.growth_calls),
                "--export-calls",
                str(args.growth_export_calls),
                "--setup",
                str(setup_file),
            )
            measured.append({"size": licenses, "url": url, "setup": setup_file, **found})
            measured[-1]["licenses"] = setup["licenses"]
            measured[-1]["tenants"] = setup["tenants"]
        series = _series(measured)
        verdicts = {key: _verdict(entry) for key, entry in series.items()}
        grows = [key for key, verdict in verdicts.items() if verdict["verdict"] == "GROWS"]
        diagnosis: dict = {}
        compared: dict = {}
        if grows:
            largest = measured[-1]
            log(f"growth: {len(grows)} grow; where their time goes at the largest size")
            for size in (measured[0], largest):
                setup = json.loads(size["setup"].read_text())
                for case in setup["cases"]:  # at the URL measured (a deep page: page=last)
                    case["url"] = size["cases"][case["key"]].get("url", case["url"])
                size["setup"].write_text(json.dumps(setup))
            diagnosis = script_result(
                largest["url"],
                SCRIPT,
                "diagnose",
                "--setup",
                str(largest["setup"]),
                "--keys",
                *grows,
            )
            timed_queries = [
                script_result(
                    size["url"], SCRIPT, "queries", "--setup", str(size["setup"]), "--keys", *grows
                )
                for size in (measured[0], largest)
            ]
            compared = {
                key: (timed_queries[0][key], timed_queries[1][key])
                for key in grows
                if key in timed_queries[0] and key in timed_queries[1]
            }
    sizes = [size["licenses"] for size in measured]
    parameters = {
        "sizes": sorted(args.growth_sizes),
        "licenses": sizes,
        "calls": args.growth_calls,
        "tenants": measured[-1]["tenants"],
        "started": started,
        "ended": time.strftime("%H:%M %Z"),
        "load": {"start": load_start, "end": round(os.getloadavg()[0], 1)},
        "figures": "in process (Django's test client); the export: the fastest of its calls",
        "export_calls": args.growth_export_calls,
        "databases": [urlsplit(size["url"]).path.lstrip("/") for size in measured],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (WORK / "growth-diagnosis.json").write_text(json.dumps({**diagnosis, "compared": compared}))
    _plot(series, RESULTS / "growth.svg")
    report = _report(series, verdicts, diagnosis, parameters, compared)
    (RESULTS / "growth.md").write_text(report)
    print(report)
    rows = _rows(series, verdicts, sizes)
    for row in rows:
        verdict = row["detail"]["verdict"]
        log(f"{row['benchmark']}: {row['figure']:,} {row['unit']}, ratio {row['ratio']}, {verdict}")
    return {"target": "growth", "parameters": parameters, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description="The in-process part of the growth benchmark.")
    parser.add_argument("step", choices=["prepare", "measure", "diagnose", "queries"])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--export-calls", type=int, default=EXPORT_CALLS)
    parser.add_argument("--setup", help="a file with prepare's JSON")
    parser.add_argument("--requests", type=int, default=pages.REQUESTS, help="(prepare)")
    parser.add_argument("--inbox", type=int, default=pages.INBOX, help="(prepare)")
    parser.add_argument("--keys", nargs="*", default=[], help="(diagnose, queries) the cases")
    args = parser.parse_args()
    django_setup()
    if args.step == "prepare":
        print(json.dumps(prepare(args.requests, args.inbox)))
        return
    setup = json.loads(Path(args.setup).read_text())
    if args.step == "measure":
        print(json.dumps(measure(setup, args.calls, args.export_calls)))
        return
    cases = [case for case in setup["cases"] if case["key"] in args.keys]
    if args.step == "queries":
        print(json.dumps(queries(setup, cases)))
        return
    found = pages.diagnose(setup, cases)
    if f"{EXPORT} | partner" in args.keys:
        found[f"{EXPORT} | partner"] = diagnose_export(setup)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
