"""``make bench BENCH=bulk``: a bulk renewal of 5,000 licenses, as the product runs it.

On each database (``--databases``: SQLite and PostgreSQL), ``generate_load --locations
--bulk-locations`` (10,000 by default: ~8,700 licenses a distributor can renew, in use,
denied or finalized), then in a process of its own (``bench/bulk_job.py``) the
distributor's administrator asks for a renewal of ``--bulk-licenses`` of them
(``bulk.create_job``) and the notifier works the job in its slices until it is finished.
Reports the seconds from asking to finished, the renewals per second and the statements
per renewal; goal: the whole job in under ``GOAL_S`` seconds (why that figure:
docs/performance.md, "Bulk renewals"). When the goal is missed, or with ``--profile``, a
renewal of 500 of the same licenses runs under cProfile and its summary is printed and
written to ``bench/results/bulk-<database>.profile.txt``. No ceiling: the goal is
absolute.
"""

from __future__ import annotations

import argparse

from common import RESULTS, ROOT, fresh_database, log, manage, script_result, settle

JOB_SCRIPT = ROOT / "bench" / "bulk_job.py"
GOAL_S = 60  # seconds for the whole job of --bulk-licenses (5,000) renewals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk-licenses", type=int, default=5000, help="bulk: licenses renewed in one job"
    )
    parser.add_argument(
        "--bulk-locations",
        type=int,
        default=10_000,
        help="bulk: locations generated, one license each (most of them renewable)",
    )


def measure(database: str, args) -> dict:
    url = fresh_database(database, "wlm_bench_bulk")
    manage(url, "migrate", "--noinput", "-v0")
    log(f"bulk ({database}): generating {args.bulk_locations:,} locations")
    manage(url, "generate_load", "--locations", str(args.bulk_locations))
    if database == "postgres":
        settle(url)
    flags = ["--licenses", str(args.bulk_licenses), "--goal", str(GOAL_S)]
    measured = script_result(url, JOB_SCRIPT, *flags, *(["--profile"] if args.profile else []))
    if measured["profile"]:
        (RESULTS / f"bulk-{database}.profile.txt").write_text(measured["profile"] + "\n")
        print(measured["profile"])
    log(
        f"bulk ({database}): {measured['licenses']:,} renewals in {measured['seconds']:.1f} s "
        f"({measured['licenses_per_second']:,.0f}/s, {measured['queries_per_renewal']} "
        f"statements each; asking {measured['create_seconds']:.2f} s)"
    )
    return measured


def bench_bulk(args) -> dict:
    rows = []
    for database in args.databases:
        measured = measure(database, args)
        licenses = measured["licenses"]
        rows.append(
            {
                "benchmark": (
                    f"bulk renewal of {licenses:,} licenses, as the notifier works it "
                    f"({database}; {measured['workers']} worker"
                    f"{'s' if measured['workers'] > 1 else ''}, "
                    f"{measured['licenses_per_second']:,.0f} licenses/s, "
                    f"{measured['queries_per_renewal']} queries per renewal)"
                ),
                "figure": round(measured["seconds"], 1),
                "ceiling": None,
                "unit": "s",
                "ratio": None,
                "goal": f"< {GOAL_S} s",
                "pass": measured["seconds"] < GOAL_S,
                "detail": measured,
            }
        )
    return {
        "target": "bulk",
        "parameters": {"licenses": args.bulk_licenses, "locations": args.bulk_locations},
        "rows": rows,
    }
