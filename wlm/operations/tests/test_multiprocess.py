"""Multiprocess mode: every process's counters in one scrape, through the production
server as `make run` starts it (granian, two workers) with a database that is away."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from wlm.tests.test_fresh_setup import ROOT, SERVE, call, free_port

UNREACHABLE = "postgres://wlm@127.0.0.1:1/wlm"  # nothing listens on port 1: refused at once


def samples(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def python(env: dict, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_processes_counts_add_up_in_one_scrape(tmp_path):
    folder = tmp_path / "metrics"  # made by the first process that counts
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    count = "from wlm.operations import metrics; metrics.count_intake('api', {}, 0, 0, 0)"
    python(env, count.format(2))
    python(env, count.format(3))
    assert len(list(folder.glob("counter_*.db"))) == 2  # one file per process
    text = python(
        env,
        "import sys; from wlm.operations import metrics; "
        "sys.stdout.write(metrics.exposition()[0].decode())",
    )
    found = samples(text)
    assert found[("wlm_intake_events_total", (("outcome", "accepted"), ("source", "api")))] == 5


def test_granian_workers_answer_the_probes_and_one_scrape_counts_them_all(tmp_path):
    """`make run`'s server (two workers) in multiprocess mode: /healthz without the
    database, /readyz's 503 naming it, and /metrics adding up both workers' answers."""
    env = {
        **os.environ,
        "DATABASE_URL": UNREACHABLE,
        "DATA_DIR": str(tmp_path / "data"),
        "DEBUG": "0",
        "SECURE_SSL": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("SECRET_KEY", None)
    port = free_port()
    log = tmp_path / "server.log"
    serve = [*SERVE, "--port", str(port), "wlm.wsgi:application"]
    serve[serve.index("--workers") + 1] = "2"
    with log.open("wb") as output:
        server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        _wait(port, server, log, workers=2)
        with ThreadPoolExecutor(4) as pool:  # new connections, spread over the workers
            statuses = list(pool.map(lambda _: call(port, "GET", "/healthz")[0], range(40)))
        assert statuses == [200] * 40
        status, _headers, body, _seconds = call(port, "GET", "/readyz")
        assert status == 503
        problem = json.loads(body)
        assert problem["detail"] == "The database does not answer."
        assert problem["checks"]["database"] == "unreachable"
        status, _headers, body, _seconds = call(port, "GET", "/metrics")
        assert status == 200, body
    finally:
        server.terminate()
        server.wait(timeout=30)
    found = samples(body.decode())
    healthz = ("wlm_probe_answers_total", (("probe", "healthz"), ("status", "200")))
    assert found[healthz] == 41  # the one _wait asked, and the 40
    assert found[("wlm_probe_answers_total", (("probe", "readyz"), ("status", "503")))] == 1
    assert found[("wlm_database_up", ())] == 0
    errors = ("wlm_database_errors_total", (("kind", "operational"), ("where", "readyz")))
    assert found[errors] == 1
    # a file per worker: whichever answered, the scrape added both
    assert len(list((tmp_path / "metrics").glob("counter_*.db"))) == 2


def _wait(port: int, server: subprocess.Popen, log, workers: int) -> None:
    """Until every worker has started, then one /healthz (polling processes to be ready,
    not time: a worker still starting when the test ends would also hold up granian's
    shutdown)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if log.read_text().count("Started worker-") < workers:
                raise ConnectionRefusedError("a worker is still starting")
            assert call(port, "GET", "/healthz")[0] == 200
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the server did not start:\n{log.read_text()}") from None
            time.sleep(0.2)
