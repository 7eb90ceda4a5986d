"""What every benchmark target shares: paths, the throwaway databases, the production
server and py-spy around it, the HTTP client that posts bodies, and the results (each
target's ``bench/results/<target>.json``, the table in ``bench/results/README.md`` and in
the project's README between its markers).

The databases are throwaway: a SQLite file under ``BENCH_DIR`` (/tmp/wlm-bench) and
PostgreSQL databases on ``PG_URL``'s server (dropped and created again). ``SERVE`` is the
production server's command (the Makefile passes the options of ``make run``).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import http.client
import json
import os
import platform
import pstats
import shlex
import signal
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

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
PORT = int(os.environ.get("BENCH_PORT", "8190"))  # BENCH_PORT: another port (runs side by side)
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
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {pg_database}")
    return urlunsplit(urlsplit(PG_URL)._replace(path=f"/{pg_database}"))


def database_exists(database_url: str) -> bool:
    """Whether ``database_url``'s PostgreSQL database exists; it is created if not."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone():
            return True
        connection.execute(f'CREATE DATABASE "{name}"')
    return False


def settle(database_url: str) -> None:
    """PostgreSQL vacuums and flushes what the generator wrote now, not during a measurement."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        connection.execute("CHECKPOINT")


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


def django_setup() -> None:
    """Django on ``DATABASE_URL`` in this process (a bench script's in-process part)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")
    import django

    django.setup()


def p95(times: list[float]) -> float:
    if len(times) < 2:
        return max(times)
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def timed(call, calls: int) -> dict:
    """``call`` once to warm up (connection, caches, plans), then ``calls`` times: the
    p95, median and maximum of the calls, in ms."""
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p95_ms": round(p95(times), 1),
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
    }


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


def write_report(result: dict) -> None:
    """``bench/results/<target>.json``, then the table of every result in
    ``bench/results/README.md`` and in the project's README, between its markers."""
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
        for row in report.get("rows", []):  # sizes.json: a table of its own (docs)
            ceiling = "—" if row["ceiling"] is None else f"{row['ceiling']:,}"
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.3f}"
            lines.append(
                f"| {row['benchmark']} | {row['figure']:,} {row['unit']} | {ceiling} "
                f"| {ratio} | {row['goal']} | {'pass' if row['pass'] else 'MISS'} "
                f"| {report['date'][:10]}, {report['machine']} |"
            )
    plot = []  # make bench BENCH=growth's plot, below the table (not in the project's README)
    if (RESULTS / "growth.svg").exists():
        plot = [
            "",
            "Latency against the number of licenses (`make bench BENCH=growth`; the figures,",
            "the verdicts and where a cost grows: [growth.md](growth.md)):",
            "",
            "![Latency against the number of licenses](growth.svg)",
        ]
    (RESULTS / "README.md").write_text("\n".join(lines + plot) + "\n")
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, start, rest = text.partition("<!-- bench:start (written by make bench) -->\n")
    _old, end, tail = rest.partition("<!-- bench:end -->")
    if start and end:
        readme.write_text(head + start + "\n".join(lines[6:]) + "\n" + end + tail)


def cprofile_summary(profile: cProfile.Profile, top: int) -> str:
    """The functions with the most time of their own, then the project's with the most
    cumulative time (``top`` each)."""
    stats = pstats.Stats(profile).stats
    root = f"{ROOT}/"

    def where(file: str, line: int, name: str) -> str:
        for prefix in (f"{sysconfig.get_paths()['purelib']}/", root):
            file = file.removeprefix(prefix)
        return f"{file}:{line}({name})" if line else name

    def lines(entries, key) -> list[str]:
        ranked = sorted(entries, key=key, reverse=True)[:top]
        return [
            f"{ct * 1000:9.1f} {tt * 1000:9.1f} {nc:>8}  {where(*place)}"
            for place, (_cc, nc, tt, ct, _callers) in ranked
        ]

    heading = f"{'cum ms':>9} {'own ms':>9} {'calls':>8}  function"
    project = [item for item in stats.items() if item[0][0].startswith(f"{root}wlm/")]
    return "\n".join(
        [
            "by own time:",
            heading,
            *lines(stats.items(), lambda item: item[1][2]),
            "the project's, by cumulative time:",
            heading,
            *lines(project, lambda item: item[1][3]),
        ]
    )
