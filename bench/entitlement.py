"""``make bench BENCH=entitlement``: the data plane's entitlement check, on the lean path.

For each database (SQLite, PostgreSQL), on a fresh database with ``--locations``
locations (``generate_load``, every status):

- the ceiling: the smallest ASGI application (``bench/ok.py``) under granian with the
  product's options, then the smallest WSGI one, for reference;
- the product: ``GET /api/v1/locations/{id}/entitlement/`` as the gateway, over a hot set
  of ``--hot`` locations in every status, through ``wlm.wsgi:application`` (the lean
  path in front of Django) under the production server;
- the same URL through Django's own view (``?format=json`` sends it there), for scale;
- propagation: a license of the hot set denied in the database while the server runs,
  and the time until no process answers the old status (goal < 1 s);
- the resident memory of each server process afterwards (goal < 150 MB).

The load generator is wrk (Debian's ``wrk``, installed by ``make bench``): 2 threads,
``--wrk-connections`` connections, ``--rounds`` runs of ``--seconds`` each after a warm-up
that fills each process's cache; figures are the medians. wrk's own CPU share is in the
report: it shares the 2 cores with the server, and so does the ceiling's run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

import psycopg
from common import PORT, SERVE, WORK, fresh_database, log, manage, server

GOAL_RATE, GOAL_RATIO, GOAL_P99_MS, GOAL_PROPAGATION_S, GOAL_RSS_MB = 10_000, 0.45, 20, 1.0, 150
ASGI = [("asgi" if part == "wsgi" else part) for part in SERVE]
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
PERCENTILE = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hot", type=int, default=5_000, help="entitlement: locations asked")
    parser.add_argument("--seconds", type=int, default=10, help="entitlement: per wrk run")
    parser.add_argument("--warm-up", type=int, default=10, help="entitlement: wrk warm-up")
    parser.add_argument("--wrk-connections", type=int, default=64)


def lua_script(locations: list[str], query: str = "") -> Path:
    """A wrk script that walks the hot set, one location after another."""
    path = WORK / f"entitlement{'-django' if query else ''}.lua"
    ids = ",".join(f'"{location}"' for location in locations)
    path.write_text(
        f"local ids = {{{ids}}}\n"
        "local n = math.random(#ids)\n"
        "request = function()\n"
        "  n = n % #ids + 1\n"
        f'  return wrk.format("GET", "/api/v1/locations/" .. ids[n] .. "/entitlement/{query}")\n'
        "end\n"
    )
    return path


def wrk(script: Path, token: str, seconds: int, connections: int) -> dict:
    """One wrk run: requests/s, latency percentiles (ms), errors, wrk's CPU share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            "-H",
            f"Authorization: Token {token}",
            f"http://127.0.0.1:{PORT}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latency = {
        f"p{match[1]}_ms": float(match[2]) * UNITS[match[3]]
        for match in PERCENTILE.finditer(output)
    }
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": round(rate),
        **{name: round(value, 2) for name, value in latency.items()},
        "non_2xx": int(errors[1]) if errors else 0,
        "socket_errors": socket_errors[1] if socket_errors else "",
        "wrk_cpu_share": round(cpu / wall, 3),
    }


def warm_up(script: Path, token: str, args) -> None:
    """At least ``args.warm_up`` seconds, then 3-second runs until the rate stops rising
    by more than 5% (each process has read the hot set), at most a minute more."""
    wrk(script, token, args.warm_up, args.wrk_connections)
    previous, deadline = 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        rate = wrk(script, token, 3, args.wrk_connections)["requests_per_s"]
        if rate < previous * 1.05:
            return
        previous = rate


def rounds(script: Path, token: str, args) -> dict:
    """Warm-up, then ``args.rounds`` runs; the medians and every run."""
    warm_up(script, token, args)
    runs = [wrk(script, token, args.seconds, args.wrk_connections) for _ in range(args.rounds)]
    if any(run["non_2xx"] or run["socket_errors"] for run in runs):
        raise SystemExit(f"entitlement: errors under load: {runs}")
    return {
        "requests_per_s": round(statistics.median(r["requests_per_s"] for r in runs)),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "wrk_cpu_share": round(statistics.median(r["wrk_cpu_share"] for r in runs), 3),
        "runs": runs,
    }


def get(path: str, token: str) -> dict:
    """One request on a new connection (the kernel hands it to either process)."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
    body = json.loads(connection.getresponse().read())
    connection.close()
    return body


def deny_in_database(database_url: str, location: str) -> None:
    """The license of ``location`` denied by a plain UPDATE in another connection (the
    triggers log it as they log a service's write)."""
    statement = (
        "UPDATE licenses_license SET status = 'access_denied', status_before_denial = status "
        "WHERE id IN (SELECT license_id FROM licenses_assignment WHERE location_id = {})"
    )
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute(statement.format("?"), [location.replace("-", "")])
    else:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(statement.format("%s"), [location])


def propagation(database_url: str, location: str, token: str) -> dict:
    """Seconds from the commit of a denial to the last answer with the old status, over
    new connections until 2 s without an old answer have passed."""
    path = f"/api/v1/locations/{location}/entitlement/"
    for _ in range(50):  # both processes hold the location
        assert get(path, token)["reason"] == "ok"
    deny_in_database(database_url, location)
    committed = time.perf_counter()
    last_old, answers = 0.0, 0
    while time.perf_counter() - committed < last_old + 2:
        reason = get(path, token)["reason"]
        answers += 1
        if reason != "access_denied":
            last_old = time.perf_counter() - committed
    return {"seconds_to_last_old_answer": round(last_old, 3), "answers": answers}


def resident_mb(process: subprocess.Popen) -> dict:
    """VmRSS of the server's main process and of each worker (its children)."""

    def rss(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return {
        "main_mb": round(rss(process.pid), 1),
        "workers_mb": [round(rss(int(pid)), 1) for pid in children],
    }


def one_database(database: str, args) -> dict:
    url = fresh_database(database)
    manage(url, "migrate", "--noinput", "-v0")
    manifest_path = WORK / "entitlement-manifest.json"
    log(f"entitlement / {database}: generating {args.locations:,} locations")
    manage(
        url, "generate_load", "--locations", str(args.locations), "--manifest", str(manifest_path)
    )
    manifest = json.loads(manifest_path.read_text())
    token = manifest["gateway_token"]
    every = [location for ids in manifest["locations"].values() for location in ids]
    hot = random.Random(7).sample(every, min(args.hot, len(every)))
    in_use = sorted(set(hot) & set(manifest["locations"]["in_use"]))
    script, django_script = lua_script(hot), lua_script(hot, "?format=json")
    with server("bench.ok:asgi", url, ASGI):
        ceiling = rounds(script, token, args)
    log(f"entitlement / {database}: ASGI ceiling {ceiling['requests_per_s']:,} req/s")
    with server("bench.ok:wsgi", url):
        wsgi_ceiling = rounds(script, token, args)
    with server("wlm.wsgi:application", url) as process:
        product = rounds(script, token, args)
        log(
            f"entitlement / {database}: lean path {product['requests_per_s']:,} req/s, "
            f"p99 {product['p99_ms']} ms"
        )
        django = wrk(django_script, token, args.seconds, args.wrk_connections)
        moved = propagation(url, in_use[0], token)
        memory = resident_mb(process)
    log(f"entitlement / {database}: propagation {moved}, memory {memory}")
    return {
        "database": database,
        "ceiling": ceiling,
        "wsgi_ceiling": wsgi_ceiling,
        "product": product,
        "django_view": django,
        "propagation": moved,
        "memory": memory,
    }


def bench_entitlement(args) -> dict:
    rows = []
    for database in args.databases:
        measured = one_database(database, args)
        rate, ceiling = measured["product"]["requests_per_s"], measured["ceiling"]["requests_per_s"]
        p99 = measured["product"]["p99_ms"]
        rows.append(
            {
                "benchmark": f"entitlement check, lean path ({database})",
                "figure": rate,
                "ceiling": ceiling,
                "unit": "req/s",
                "ratio": round(rate / ceiling, 4),
                "goal": f">= {GOAL_RATE:,} req/s, >= {GOAL_RATIO} of bare ASGI, p99 < "
                f"{GOAL_P99_MS} ms (p99 {p99} ms)",
                "pass": rate >= GOAL_RATE and rate / ceiling >= GOAL_RATIO and p99 < GOAL_P99_MS,
                "detail": measured,
            }
        )
        django = measured["django_view"]["requests_per_s"]
        rows.append(
            {
                "benchmark": f"entitlement check, Django view ({database}, for scale)",
                "figure": django,
                "ceiling": ceiling,
                "unit": "req/s",
                "ratio": round(django / ceiling, 4),
                "goal": "— (the path the lean one replaces)",
                "pass": True,
                "detail": measured["django_view"],
            }
        )
        seconds = measured["propagation"]["seconds_to_last_old_answer"]
        rows.append(
            {
                "benchmark": f"entitlement: a denial seen by every process ({database})",
                "figure": round(seconds * 1000),
                "ceiling": None,
                "unit": "ms",
                "ratio": None,
                "goal": f"< {GOAL_PROPAGATION_S * 1000:,.0f} ms",
                "pass": seconds < GOAL_PROPAGATION_S,
                "detail": measured["propagation"],
            }
        )
        largest = max(measured["memory"]["workers_mb"] or [measured["memory"]["main_mb"]])
        rows.append(
            {
                "benchmark": f"server process memory after the entitlement runs ({database})",
                "figure": largest,
                "ceiling": None,
                "unit": "MB RSS",
                "ratio": None,
                "goal": f"< {GOAL_RSS_MB} MB",
                "pass": largest < GOAL_RSS_MB,
                "detail": measured["memory"],
            }
        )
    return {
        "target": "entitlement",
        "parameters": {
            "locations": args.locations,
            "hot_locations": args.hot,
            "seconds": args.seconds,
            "warm_up_seconds": args.warm_up,
            "rounds": args.rounds,
            "wrk": f"wrk -t2 -c{args.wrk_connections} --latency",
            "server": " ".join(SERVE),
            "figures": "medians of the rounds",
        },
        "rows": rows,
    }
