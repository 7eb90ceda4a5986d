"""``make bench``: throughput benchmarks, each beside its ceiling measured in the same run.

Targets (all by default; ``make bench BENCH=connections``), one file each beside this one:

- ``entitlement`` (bench/entitlement.py): the data plane's entitlement check on the lean
  path, beside bare ASGI and WSGI applications, a denial's propagation, the memory;
- ``connections`` (bench/connections.py): ``POST /api/v1/connections/`` into SQLite and
  PostgreSQL, beside a server that reads and discards the same bodies;
- ``notices`` (bench/notices.py): the notifier's passes with 1,000,000 licenses;
- ``bulk`` (bench/bulk.py): a bulk renewal of 5,000 licenses, worked by the notifier as
  in production, on SQLite and PostgreSQL;
- ``lists`` (bench/lists.py): the licenses and locations lists and the CSV export with
  1,000,000 licenses;
- ``pages`` (bench/pages.py): the HTML pages (dashboard, lists, license view and its
  tabs) and every API list with 1,000,000 licenses, as staff, a distributor, a partner
  and an organization;
- ``growth`` (bench/growth.py): the same lists, dashboard, export and entitlement check
  at 10,000, 100,000 and 1,000,000 licenses, and a plot of latency against size;
- ``radius`` (bench/radius.py): Access-Requests and Accounting-Starts through FreeRADIUS
  to the lean path, beside FreeRADIUS's ``files`` (the ceiling) and ``rlm_sql``.

Each benchmark writes ``bench/results/<target>.json``; ``bench/results/README.md`` is the
table of every result (figure, ceiling, ratio, goal, pass/fail), copied into the
project's README (bench/common.py). The databases are throwaway: a SQLite file under
``BENCH_DIR`` (/tmp/wlm-bench) and PostgreSQL databases (dropped and created again).
"""

from __future__ import annotations

import argparse

import bulk
import connections
import entitlement
import growth
import lists
import notices
import pages
import radius
from common import RESULTS, write_report

TARGETS = {
    "entitlement": entitlement.bench_entitlement,
    "connections": connections.bench_connections,
    "notices": notices.bench_notices,
    "bulk": bulk.bench_bulk,
    "lists": lists.bench_lists,
    "pages": pages.bench_pages,
    "growth": growth.bench_growth,
    "radius": radius.bench_radius,
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"Some of: {', '.join(TARGETS)} (default: all).")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--locations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="Median of this many runs.")
    for target in (connections, notices, bulk, entitlement, lists, pages, growth, radius):
        target.add_arguments(parser)
    args = parser.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(
            f"unknown target(s): {', '.join(sorted(unknown))}; known: {', '.join(TARGETS)}"
        )
    return args


def main() -> None:
    args = arguments()
    for target in args.targets or TARGETS:
        write_report(TARGETS[target](args))
        print((RESULTS / "README.md").read_text())


if __name__ == "__main__":
    main()
