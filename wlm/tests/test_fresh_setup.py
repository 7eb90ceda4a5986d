"""The documented setup is enough: ``migrate``, ``collectstatic``, ``createsuperuser``.

The throttles keep their counters in a database cache whose table a migration makes, so
a fresh database serves a token login through the production server (granian, as ``make
run`` starts it). A cache that fails anyway (its table dropped) is an error in the log and
no throttling, never a failed login.
"""

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from wlm.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The options of the Makefile's SERVE, with one worker.
SERVE = [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--workers", "1"]
SERVE += ["--blocking-threads", "1", "--no-ws"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def call(port: int, method: str, url: str, body: dict | None = None, **headers):
    """(status, headers with lower-case names, body, seconds it took) of one request to
    the server on ``port``."""
    started = time.monotonic()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = None if body is None else json.dumps(body)
    if body is not None:
        headers["Content-Type"] = "application/json"
    client.request(method, url, body=payload, headers=headers)
    response = client.getresponse()
    content = response.read()
    names = {name.lower(): value for name, value in response.getheaders()}
    client.close()
    return response.status, names, content, time.monotonic() - started


def serve(env: dict, port: int, log: Path) -> subprocess.Popen:
    """granian on ``port``; returns once it answers (or fails the test with its log)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "wlm.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            call(port, "GET", "/accounts/login/")
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)  # polling for a process to listen, not waiting for time to pass


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database of the kind the suite runs on: a new SQLite file, or a new
    PostgreSQL database beside the test database (dropped afterwards)."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'wlm.sqlite3'}"
        return
    import psycopg

    name = f"{settings.DATABASES['default']['NAME']}_fresh"
    url = urlsplit(os.environ["DATABASE_URL"])
    admin_url = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(url._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_collectstatic_createsuperuser_serve_a_token_login(tmp_path, fresh_database):
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "DATA_DIR": str(tmp_path / "data"),
        "DEBUG": "0",
        "SECURE_SSL": "0",  # as `make run`: plain http
        "DJANGO_SUPERUSER_USERNAME": "root",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "root@example.com",
    }
    env.pop("SECRET_KEY", None)  # a fresh data folder gets its own
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "createsuperuser", "--noinput")

    port = free_port()
    server = serve(env, port, tmp_path / "server.log")
    try:
        status, _headers, body, _seconds = call(
            port, "POST", "/api/v1/auth/token/", {"username": "root", "password": PASSWORD}
        )
        assert status == 200, body
        token = json.loads(body)["token"]
        token_header = {"Authorization": f"Token {token}"}
        status, _headers, body, _seconds = call(
            port, "GET", "/api/v1/distributors/", **token_header
        )
        assert status == 200, body
        # the pages too (collected static files, a data folder of its own)
        status, _headers, body, _seconds = call(port, "GET", "/accounts/login/")
        assert status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (tmp_path / "server.log").read_text()
    assert "wlm_cache" not in log, log


@pytest.mark.django_db
def test_without_the_cache_table_a_token_login_works_and_logs_an_error(world, api, caplog):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE wlm_cache")  # undone with the test's transaction
    with caplog.at_level(logging.ERROR):
        response = api().post(
            "/api/v1/auth/token/", {"username": "org_admin", "password": PASSWORD}
        )
    assert response.status_code == 200, response.content
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(r.name == "wlm.lib.cache" for r in errors), caplog.text
    assert "wlm_cache" in caplog.text


@pytest.mark.django_db
def test_without_the_cache_table_the_login_page_lets_the_right_password_in(client, world, caplog):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE wlm_cache")
    with caplog.at_level(logging.ERROR):
        wrong = client.post("/accounts/login/", {"username": "org_admin", "password": "wrong"})
        right = client.post("/accounts/login/", {"username": "org_admin", "password": PASSWORD})
    assert (wrong.status_code, right.status_code) == (200, 302)
    assert any(r.name == "wlm.lib.cache" for r in caplog.records)
