"""``make bench BENCH=notices``: the notifier on PostgreSQL with 1,000,000 licenses
(``generate_load --locations 200000 --history 4``, their notices written as the notifier
leaves them): the pass with nothing due (goal < 1 s), then one pass with 1% of the
licenses' notices due, deciding and delivering (e-mail to a local aiosmtpd) timed apart.
The passes run in their own process (``bench/notices_pass.py``). No ceiling: the goal is
absolute.
"""

from __future__ import annotations

import argparse

import psycopg
from common import ROOT, fresh_database, log, manage, script_result, settle

PASS_SCRIPT = ROOT / "bench" / "notices_pass.py"
GOAL_EMPTY_S, GOAL_RSS_MB = 1, 150


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notice-locations",
        type=int,
        default=200_000,
        help="notices: locations, with 5 licenses each (1,000,000 licenses by default)",
    )


def bench_notices(args) -> dict:
    """The notifier at platform scale (PostgreSQL): ``--notice-locations`` locations with
    4 earlier licenses each (1,000,000 licenses by default) and their notices."""
    url = fresh_database("postgres")
    manage(url, "migrate", "--noinput", "-v0")
    log(f"notices: generating {args.notice_locations * 5:,} licenses (a few minutes)")
    manage(url, "generate_load", "--locations", str(args.notice_locations), "--history", "4")
    settle(url)
    with psycopg.connect(url) as connection:
        licenses = connection.execute("SELECT count(*) FROM licenses_license").fetchone()[0]
    due = licenses // 100
    log(f"notices: {licenses:,} licenses; passes with nothing due, then with {due:,} due")
    measured = script_result(url, PASS_SCRIPT, "--due", str(due))
    if measured["smtp_messages"] != measured["delivered"] or measured["failed_or_retried"]:
        raise SystemExit(f"notices: deliveries lost or failed: {measured}")
    empty = measured["empty_pass_median_seconds"]
    busy = measured["decide_seconds"] + measured["deliver_seconds"]
    log(
        f"notices: empty pass {empty * 1000:.1f} ms; {measured['notices_due']:,} due: "
        f"decided in {measured['decide_seconds']:.1f} s, delivered "
        f"{measured['delivered']:,} e-mails in {measured['deliver_seconds']:.1f} s"
    )
    return {
        "target": "notices",
        "parameters": {"licenses": licenses, "due": measured["notices_due"]},
        "rows": [
            {
                "benchmark": f"notices: pass with nothing due ({licenses:,} licenses)",
                "figure": round(empty * 1000, 1),
                "ceiling": None,
                "unit": "ms",
                "ratio": None,
                "goal": f"< {GOAL_EMPTY_S * 1000:,} ms",
                "pass": empty < GOAL_EMPTY_S,
                "detail": measured,
            },
            {
                "benchmark": f"notices: pass with {measured['notices_due']:,} due",
                "figure": round(busy, 1),
                "ceiling": None,
                "unit": "s",
                "ratio": None,
                "goal": "bounded by delivery: deciding < delivering",
                "pass": measured["decide_seconds"] < measured["deliver_seconds"],
                "detail": measured,
            },
            {
                "benchmark": f"notifier memory: peak after both passes ({licenses:,} licenses)",
                "figure": measured["max_rss_mb"],
                "ceiling": None,
                "unit": "MB RSS",
                "ratio": None,
                "goal": f"< {GOAL_RSS_MB} MB",
                "pass": measured["max_rss_mb"] < GOAL_RSS_MB,
                "detail": {"max_rss_mb": measured["max_rss_mb"]},
            },
        ],
    }
