"""Configuration: deploy checks, the SQLite mode, the clock, and the demo seed."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command

from wlm.lib import clock
from wlm.locations.models import Location
from wlm.tenancy.models import Membership, Organization

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_without_warnings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="x9" * 30 + "-production-secret",
        DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_unsupported_database_url_is_refused(tmp_path):
    result = run_manage("check", DATABASE_URL="mysql://root@localhost/x")
    assert result.returncode != 0
    assert "Unsupported DATABASE_URL" in result.stderr


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions(tmp_path):
    db_file = tmp_path / "wal.sqlite3"
    code = (
        "import django; django.setup();"
        "from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]);"
        "print(connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "wlm.settings",
            "DATABASE_URL": f"sqlite:///{db_file}",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE"]


def test_database_connections_are_persistent():
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]


def settings_in_a_process(code: str, **env) -> subprocess.CompletedProcess:
    """``code`` (which prints what it reads) run after ``django.setup()`` with ``env``."""
    return subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup()\n" + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "wlm.settings", **env},
    )


READ_DATABASE = (
    "from django.conf import settings; db = settings.DATABASES['default']\n"
    "print(json.dumps([db['ENGINE'], db['OPTIONS']]))"
)
PG_URL = "postgres://wlm@db.example.com:6432/wlm"


@pytest.mark.parametrize(
    ("pooler", "engine", "options"),
    [
        (
            "",
            "django.db.backends.postgresql",
            {"prepare_threshold": None, "options": "-c jit=off", "connect_timeout": 3},
        ),
        # PgBouncer refuses the `options` startup parameter; cursors only in a transaction
        ("pgbouncer", "wlm.lib.pooled", {"prepare_threshold": None, "connect_timeout": 3}),
    ],
)
def test_postgresql_behind_pgbouncer_in_transaction_mode(pooler, engine, options):
    result = settings_in_a_process(READ_DATABASE, DATABASE_URL=PG_URL, DATABASE_POOLER=pooler)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [engine, options]


@pytest.mark.parametrize(
    ("pooler", "url"), [("pgpool", PG_URL), ("pgbouncer", "sqlite:////tmp/wlm.sqlite3")]
)
def test_an_unknown_pooler_or_one_in_front_of_sqlite_is_refused(pooler, url):
    result = settings_in_a_process(READ_DATABASE, DATABASE_URL=url, DATABASE_POOLER=pooler)
    assert result.returncode != 0
    assert "DATABASE_POOLER must be empty or 'pgbouncer'" in result.stderr


READ_LEASE = (
    "from wlm.notifications import worker as w\n"
    "print(json.dumps([t.total_seconds() for t in (w.LEASE, w.SEND_MARGIN, w.LEASE_SAFETY)]))"
)


def test_the_notifiers_lease_is_a_setting_with_its_margins_in_proportion():
    result = settings_in_a_process(
        READ_LEASE, NOTICE_LEASE_SECONDS="30", EMAIL_TIMEOUT="2", WEBHOOK_TIMEOUT="6"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [30, 6, 0.5]
    # a send must fit in the fifth of the lease left when it starts
    result = settings_in_a_process(READ_LEASE, NOTICE_LEASE_SECONDS="30", WEBHOOK_TIMEOUT="7")
    assert result.returncode != 0
    assert "NOTICE_LEASE_SECONDS must be at least five times" in result.stderr


def test_clock_is_moved_by_time_machine():
    with time_machine.travel(dt.datetime(2027, 6, 30, 13, 0, tzinfo=dt.UTC), tick=False):
        assert clock.now() == dt.datetime(2027, 6, 30, 13, 0, tzinfo=dt.UTC)
        assert clock.today_in("Pacific/Auckland") == dt.date(2027, 7, 1)
        assert clock.today_in("America/Los_Angeles") == dt.date(2027, 6, 30)


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo", verbosity=0)
    counts = (Organization.objects.count(), Location.objects.count(), Membership.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (
        Organization.objects.count(),
        Location.objects.count(),
        Membership.objects.count(),
    ) == counts
    assert counts[0] == 5
    assert counts[1] >= 12
    zones = set(Location.objects.values_list("timezone", flat=True))
    assert "Pacific/Auckland" in zones
    assert Location.objects.filter(sector="hospitality").exists()
    roles = set(Membership.objects.values_list("tenant_type", "role"))
    assert {
        ("staff", "admin"),
        ("staff", "gateway"),
        ("distributor", "viewer"),
        ("partner", "admin"),
        ("organization", "viewer"),
    } <= roles


@pytest.mark.django_db
def test_api_docs_use_local_assets_only(client):
    page = client.get("/api/v1/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    for url in assets:
        # the start script is served by the view itself (a file, for the CSP)
        assert url.startswith(("/static/", "/api/v1/docs/?script")), f"external asset {url}"
        response = client.get(url)
        assert response.status_code == 200, url
