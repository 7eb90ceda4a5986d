"""``make bench``: throughput benchmarks, each beside its ceiling measured in the same run.

Targets (all by default; ``make bench BENCH=connections``):

- ``connections``: ``POST /api/v1/connections/`` through the production server
  (granian, the options of ``make run``, passed in ``SERVE`` by the Makefile), 1,000,000
  events in batches of 5,000, into SQLite and into PostgreSQL. The ceiling is the same
  server answering a POST that reads and discards the same bodies (``bench/discard.py``),
  measured right before each database's run.
- ``notices``: the notifier on PostgreSQL with 1,000,000 licenses (``generate_load
  --locations 200000 --history 4``, their notices written as the notifier leaves them):
  the pass with nothing due (goal < 1 s), then one pass with 1% of the licenses' notices
  due, deciding and delivering (e-mail to a local aiosmtpd) timed apart
  (``bench/notices_pass.py``). No ceiling: the goal is absolute.

Each benchmark writes ``bench/results/<target>.json``; ``bench/results/README.md`` is the
table of every result (figure, ceiling, ratio, goal, pass/fail). The databases are
throwaway: a SQLite file under ``BENCH_DIR`` (/tmp/wlm-bench) and the PostgreSQL
database ``wlm_bench`` (dropped and created again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lists import bench_lists  # bench/lists.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = Path(os.environ.get("BENCH_DIR", "/tmp/wlm-bench"))
PG_URL = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SERVE = shlex.split(
    os.environ.get(
        "SERVE",
        f"{ROOT}/.venv/bin/granian --interface wsgi --host 127.0.0.1 --workers 2 "
        "--blocking-threads 1 --no-ws",
    )
)
PORT = 8190
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment(database_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "SECURE_SSL": "0", "DEBUG": "0"}


def manage(database_url: str, *args: str) -> None:
    """A management command; its output goes to the server log, shown when it fails."""
    with open(WORK / "server.log", "ab") as output:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=environment(database_url),
            stdout=output,
            stderr=output,
        )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed: see {WORK / 'server.log'}")


def fresh_database(name: str, pg_database: str = "wlm_bench") -> str:
    """The URL of an empty database: a new SQLite file, or PostgreSQL's ``pg_database``."""
    WORK.mkdir(parents=True, exist_ok=True)
    if name == "sqlite":
        path = WORK / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {pg_database}")
    return urlunsplit(urlsplit(PG_URL)._replace(path=f"/{pg_database}"))


def script_result(database_url: str, script: Path, *args: str) -> dict:
    """Run a bench script in its own process on ``database_url``: the JSON object its
    last line prints (its errors go to the server log)."""
    with open(WORK / "server.log", "ab") as errors:
        output = subprocess.run(
            [PYTHON, str(script), *args],
            cwd=ROOT,
            env=environment(database_url),
            check=True,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ).stdout
    return json.loads(output.strip().splitlines()[-1])


@contextmanager
def server(app: str, database_url: str, serve: list[str] | None = None):
    """The production server (``SERVE``, or ``serve``) on ``PORT`` with ``app``, until the
    block ends."""
    log_file = open(WORK / "server.log", "ab")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [*(serve or SERVE), "--port", str(PORT), app],
        cwd=ROOT,
        env=environment(database_url),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                connection.request("GET", "/")
                connection.getresponse().read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start: see {WORK / 'server.log'}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log_file.close()


@contextmanager
def profiler(process: subprocess.Popen, name: str, enabled: bool):
    """py-spy samples the server's workers during the block (``--profile``); the summary,
    the functions with the largest share of the workers' busy samples, goes to
    ``bench/results/<name>.profile.txt`` and is printed."""
    if not enabled:
        yield
        return
    raw = WORK / f"{name}.py-spy.txt"
    spy = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "py-spy"),
            "record",
            "--pid",
            str(process.pid),
            "--subprocesses",
            "--nolineno",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    summary = profile_summary(raw)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.profile.txt").write_text(summary)
    print(summary)


def profile_summary(path: Path, top: int = 25) -> str:
    """Inclusive share of busy samples per function, from py-spy's collapsed stacks."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        total += int(count)
        own[frames[-1] if frames else "?"] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total:,} samples of busy worker threads", "", "share in each function:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "share in the function itself (not in what it calls):"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def post_all(
    path: str,
    bodies: list[bytes],
    token: str,
    clients: int,
    min_seconds: float = 0,
    keyed: bool = False,
) -> dict:
    """POST every body over ``clients`` keep-alive connections, all of them again until
    ``min_seconds`` have passed (a fast endpoint needs rounds to be measured); the totals,
    the wall time, the events sent and the client's CPU share. ``keyed``: each body with
    its own ``Idempotency-Key`` (the intake's retry-safe path)."""
    common = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    lock = threading.Lock()
    until = time.perf_counter() + min_seconds

    def order():
        while True:
            yield from range(len(bodies))
            if time.perf_counter() >= until:
                return

    queue = order()
    sent = [0]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "started": 0, "errors": []}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        while True:
            with lock:
                index = next(queue, None)
                sent[0] += index is not None
            if index is None:
                return
            headers = {**common, "Idempotency-Key": f"bench-{index}"} if keyed else common
            connection.request("POST", path, body=bodies[index], headers=headers)
            response = connection.getresponse()
            answer = response.read()
            with lock:
                if response.status != 200:
                    totals["errors"].append(f"{response.status}: {answer[:300]!r}")
                    continue
                result = json.loads(answer)
                totals["accepted"] += result.get("accepted", 0)
                totals["duplicates"] += result.get("duplicates", 0)
                totals["rejected"] += len(result.get("rejected", []))
                totals["started"] += len(result.get("started", []))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu, start = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals["seconds"] = time.perf_counter() - start
    totals["requests"] = sent[0]
    totals["client_cpu"] = (time.process_time() - cpu) / totals["seconds"]
    return totals


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
    if database == "postgres":  # vacuum and flush what the generator wrote, not during a round
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")
            connection.execute("CHECKPOINT")
    if bodies is None:  # the same seed gives the same locations: one set of bodies
        log(f"building {args.events:,} events in batches of {args.batch:,}")
        bodies = connection_bodies(manifest, args.events, args.batch)
    token = manifest["gateway_token"]
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
        f"connections / {database}: {measured['events_per_s']:,} events/s; ceiling "
        f"{measured['ceiling_events_per_s']:,}; {product['started']} of "
        f"{measured['licenses_pending_start']} pending licenses started"
    )
    return measured, bodies


def bench_connections(args) -> dict:
    goal_rate, goal_ratio = 100_000, 0.5
    rows, bodies = [], None
    for database in args.databases:
        rounds = []
        for number in range(1, args.rounds + 1):
            log(f"connections / {database}: round {number}, fresh database")
            measured, bodies = connections_round(database, args, bodies)
            rounds.append(measured)
        rate = statistics.median(r["events_per_s"] for r in rounds)
        ceiling = statistics.median(r["ceiling_events_per_s"] for r in rounds)
        keyed = ", each batch with an Idempotency-Key" if args.idempotency_key else ""
        rows.append(
            {
                "benchmark": f"connections ({database}{keyed})",
                "figure": round(rate),
                "ceiling": round(ceiling),
                "unit": "events/s",
                "ratio": round(rate / ceiling, 4),
                "goal": f">= {goal_rate:,} events/s and >= {goal_ratio} of the ceiling",
                "pass": rate >= goal_rate and rate / ceiling >= goal_ratio,
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


def bench_notices(args) -> dict:
    """The notifier at platform scale (PostgreSQL): ``--notice-locations`` locations with
    4 earlier licenses each (1,000,000 licenses by default) and their notices."""
    url = fresh_database("postgres")
    manage(url, "migrate", "--noinput", "-v0")
    log(f"notices: generating {args.notice_locations * 5:,} licenses (a few minutes)")
    manage(url, "generate_load", "--locations", str(args.notice_locations), "--history", "4")
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        connection.execute("CHECKPOINT")
        licenses = connection.execute("SELECT count(*) FROM licenses_license").fetchone()[0]
    due = licenses // 100
    log(f"notices: {licenses:,} licenses; passes with nothing due, then with {due:,} due")
    measured = script_result(url, ROOT / "bench" / "notices_pass.py", "--due", str(due))
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
                "goal": "< 1,000 ms",
                "pass": empty < 1,
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
                "goal": "< 150 MB",
                "pass": measured["max_rss_mb"] < 150,
                "detail": {"max_rss_mb": measured["max_rss_mb"]},
            },
        ],
    }


def bench_entitlement(args) -> dict:
    from entitlement import bench_entitlement  # bench/entitlement.py, beside this file

    return bench_entitlement(args)


TARGETS = {
    "entitlement": bench_entitlement,
    "connections": bench_connections,
    "notices": bench_notices,
    "lists": bench_lists,
}


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        **result,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
    }
    (RESULTS / f"{result['target']}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); each figure beside its ceiling, measured in",
        "the same run on the same machine. Compare figures only within one run: the machine",
        "drifts ±30%.",
        "",
        "| benchmark | figure | ceiling | ratio | goal | result | run |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        report = json.loads(path.read_text())
        for row in report["rows"]:
            ceiling = "—" if row["ceiling"] is None else f"{row['ceiling']:,}"
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.3f}"
            lines.append(
                f"| {row['benchmark']} | {row['figure']:,} {row['unit']} | {ceiling} "
                f"| {ratio} | {row['goal']} | {'pass' if row['pass'] else 'MISS'} "
                f"| {report['date'][:10]}, {report['machine']} |"
            )
    (RESULTS / "README.md").write_text("\n".join(lines) + "\n")
    # the same table in the project's README, between its markers
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, start, rest = text.partition("<!-- bench:start (written by make bench) -->\n")
    _old, end, tail = rest.partition("<!-- bench:end -->")
    if start and end:
        readme.write_text(head + start + "\n".join(lines[6:]) + "\n" + end + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"Some of: {', '.join(TARGETS)} (default: all).")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="connections: post each batch with an Idempotency-Key (the retry-safe path)",
    )
    parser.add_argument("--locations", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="Median of this many runs.")
    parser.add_argument(
        "--notice-locations",
        type=int,
        default=200_000,
        help="notices: locations, with 5 licenses each (1,000,000 licenses by default)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="Sample the server with py-spy (slower)."
    )
    parser.add_argument("--hot", type=int, default=5_000, help="entitlement: locations asked")
    parser.add_argument("--seconds", type=int, default=10, help="entitlement: per wrk run")
    parser.add_argument("--warm-up", type=int, default=10, help="entitlement: wrk warm-up")
    parser.add_argument("--wrk-connections", type=int, default=64)
    args = parser.parse_args()
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(
            f"unknown target(s): {', '.join(sorted(unknown))}; known: {', '.join(TARGETS)}"
        )
    for target in args.targets or TARGETS:
        result = TARGETS[target](args)
        write_report(result)
        print((RESULTS / "README.md").read_text())


if __name__ == "__main__":
    main()
