"""``make bench BENCH=connections``: ``POST /api/v1/connections/`` through the production
server (granian, the options of ``make run``, passed in ``SERVE`` by the Makefile),
1,000,000 events in batches of 5,000, into SQLite and into PostgreSQL.

The goal is relative to the machine: at least ``GOAL_PER_OK`` events/s per request/s of
the bare-ASGI ceiling (``bench/ok.py`` under granian, loaded by wrk as the entitlement
target loads it), measured right before each round. The same server answering a POST that
reads and discards the same bodies (``bench/discard.py``) is measured too and reported for
information: a body read and thrown away is no ceiling for parsing and validating it.
``--idempotency-key`` measures the intake's retry-safe path, a target of its own
(``connections-keyed``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess

import entitlement
from common import (
    PYTHON,
    ROOT,
    SERVE,
    WORK,
    environment,
    fresh_database,
    log,
    manage,
    post_all,
    profiler,
    server,
    settle,
)

# events/s per req/s of the bare-ASGI "ok" ceiling (≈ 100,000 events/s at 22,000 req/s)
GOAL_PER_OK = 4.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="connections: post each batch with an Idempotency-Key (the retry-safe path)",
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--profile", action="store_true", help="Sample the server with py-spy (slower)."
    )


def _device(location: int, n: int, rng: random.Random) -> str:
    """A MAC in one of the notations gateways send (most send colons)."""
    octets = [
        0x02,
        (location >> 16) & 0xFF,
        (location >> 8) & 0xFF,
        location & 0xFF,
        n >> 8,
        n & 0xFF,
    ]
    notation = rng.random()
    if notation < 0.7:
        return ":".join(f"{o:02X}" for o in octets)
    if notation < 0.9:
        return "-".join(f"{o:02x}" for o in octets)
    return "".join(f"{o:02x}" for o in octets)


def connection_bodies(manifest: dict, events: int, batch: int, seed: int = 4) -> list[bytes]:
    """``events`` events in bodies of ``batch``. Each body comes from one gateway serving
    100 locations (a RADIUS cluster reports its own sites); each location has 300 devices
    that come and go; times are spread over the 10 minutes before the run."""
    rng = random.Random(seed)
    locations = sorted(loc for ids in manifest["locations"].values() for loc in ids)
    rng.shuffle(locations)
    gateways = [locations[i : i + 100] for i in range(0, len(locations), 100)]
    index = {location: n for n, location in enumerate(locations)}
    now = dt.datetime.now(dt.UTC)
    times = [(now - dt.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in range(600)]
    bodies = []
    for number in range(events // batch):
        sites = gateways[number % len(gateways)]
        rows = []
        for _ in range(batch):
            site = rng.choice(sites)
            rows.append(
                {
                    "location": site,
                    "device": _device(index[site], rng.randrange(300), rng),
                    "seen_at": rng.choice(times),
                }
            )
        bodies.append(json.dumps({"events": rows}).encode())
    return bodies


def stored_events(database_url: str) -> int:
    """What the database holds: the sum of the daily aggregates (every accepted event)."""
    code = (
        "from django.db.models import Sum; from wlm.connections.models import LocationDay; "
        "print(LocationDay.objects.aggregate(n=Sum('events'))['n'] or 0)"
    )
    output = subprocess.run(
        [PYTHON, "manage.py", "shell", "-v0", "-c", code],
        cwd=ROOT,
        env=environment(database_url),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.strip().splitlines()[-1])


def connections_round(database: str, args, bodies: list[bytes] | None) -> tuple[dict, list]:
    """One measurement on a fresh database: the ceiling, then the product."""
    url = fresh_database(database)
    manage(url, "migrate", "--noinput", "-v0")
    manifest_path = WORK / "manifest.json"
    manage(
        url, "generate_load", "--locations", str(args.locations), "--manifest", str(manifest_path)
    )
    manifest = json.loads(manifest_path.read_text())
    if database == "postgres":
        settle(url)
    if bodies is None:  # the same seed gives the same locations: one set of bodies
        log(f"building {args.events:,} events in batches of {args.batch:,}")
        bodies = connection_bodies(manifest, args.events, args.batch)
    token = manifest["gateway_token"]
    ok = WORK / "ok.lua"
    ok.write_text('request = function() return wrk.format("GET", "/") end\n')
    with server("bench.ok:asgi", url, entitlement.ASGI):
        entitlement.wrk(ok, token, 3, args.wrk_connections)  # warm up
        ok_ceiling = entitlement.wrk(ok, token, args.seconds, args.wrk_connections)
    with server("bench.discard:application", url):
        post_all("/discard/", bodies[: args.clients], token, args.clients)  # warm up
        ceiling = post_all("/discard/", bodies, token, args.clients, min_seconds=3)
    with server("wlm.wsgi:application", url) as process:
        warm_up = [b'{"events": []}'] * args.clients * 2
        post_all("/api/v1/connections/", warm_up, token, args.clients)
        with profiler(process, f"connections-{database}", args.profile):
            product = post_all(
                "/api/v1/connections/", bodies, token, args.clients, keyed=args.idempotency_key
            )
    events = args.batch * len(bodies)
    measured = {
        "events_per_s": round(events / product["seconds"]),
        "ok_requests_per_s": ok_ceiling["requests_per_s"],
        "ceiling_events_per_s": round(args.batch * ceiling["requests"] / ceiling["seconds"]),
        "events": events,
        "accepted": product["accepted"],
        "stored": stored_events(url),
        "duplicates": product["duplicates"],
        "rejected": product["rejected"],
        "licenses_started": product["started"],
        "licenses_pending_start": len(manifest["locations"].get("pending_start", [])),
        "seconds": round(product["seconds"], 2),
        "client_cpu_share": round(product["client_cpu"], 3),
        "ceiling_client_cpu_share": round(ceiling["client_cpu"], 3),
    }
    if product["errors"]:
        raise SystemExit(f"connections / {database}: {product['errors'][:3]}")
    if product["accepted"] != events or measured["stored"] != events or product["rejected"]:
        raise SystemExit(f"connections / {database}: events lost or refused: {measured}")
    log(
        f"connections / {database}: {measured['events_per_s']:,} events/s; bare ASGI "
        f"{measured['ok_requests_per_s']:,} req/s; discard ceiling "
        f"{measured['ceiling_events_per_s']:,} events/s; {product['started']} of "
        f"{measured['licenses_pending_start']} pending licenses started"
    )
    return measured, bodies


def bench_connections(args) -> dict:
    rows, bodies = [], None
    for database in args.databases:
        rounds = []
        for number in range(1, args.rounds + 1):
            log(f"connections / {database}: round {number}, fresh database")
            measured, bodies = connections_round(database, args, bodies)
            rounds.append(measured)
        rate = statistics.median(r["events_per_s"] for r in rounds)
        ok = statistics.median(r["ok_requests_per_s"] for r in rounds)
        discard = statistics.median(r["ceiling_events_per_s"] for r in rounds)
        keyed = ", each batch with an Idempotency-Key" if args.idempotency_key else ""
        per_ok = rate / ok
        goal = (
            f">= {GOAL_PER_OK} events/s per req/s of bare ASGI (the ceiling column: "
            f"{round(GOAL_PER_OK * ok):,} events/s); for information, "
            f"{rate / discard:.3f} of the discard-body ceiling ({round(discard):,} events/s)"
        )
        if per_ok < GOAL_PER_OK:
            goal += f" (missed by {round(GOAL_PER_OK * ok - rate):,} events/s)"
        rows.append(
            {
                "benchmark": f"connections ({database}{keyed})",
                "figure": round(rate),
                "ceiling": round(ok),
                "unit": "events/s",
                "ratio": round(per_ok, 3),
                "goal": goal,
                "pass": per_ok >= GOAL_PER_OK,
                "rounds": rounds,
            }
        )
    return {
        # the keyed run is a target of its own, beside the plain one
        "target": "connections-keyed" if args.idempotency_key else "connections",
        "parameters": {
            "events": args.events,
            "batch": args.batch,
            "locations": args.locations,
            "clients": args.clients,
            "rounds": args.rounds,
            "server": " ".join(SERVE),
            "figures": "medians of the rounds, each on a fresh database",
        },
        "rows": rows,
    }
