"""PgBouncer in transaction mode (docs/operations.md, "PgBouncer"): the suite's
PostgreSQL-only tests (``-m postgres_only``: row locks, ``SKIP LOCKED``, the change log's
transaction ids, the exports' cursors) pass again through Debian's pgbouncer, started
here in front of PostgreSQL in its strict form (wlm/tests/pgbouncer.py: ``DISCARD ALL``
after every transaction, server connections in another time zone), with the settings
of ``DATABASE_POOLER=pgbouncer``.

The run is a pytest of its own, on this run's test database (``--reuse-db``: no
database is made or dropped through PgBouncer, and the tables are already there); it
reads only the test files that name the marker, not the whole suite.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from wlm.tests import pgbouncer

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PgBouncer is PostgreSQL's"
)
ROOT = Path(__file__).resolve().parents[2]
MARKER = "postgres_only"


def marked_files() -> list[str]:
    """The test files that name the marker (their other tests are deselected)."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "wlm").rglob("test_*.py")
        if MARKER in path.read_text() and path.name != Path(__file__).name
    )


@pytest.mark.django_db(transaction=True)  # this run's test database exists, no transaction open
def test_the_postgresql_only_tests_pass_through_pgbouncer_in_transaction_mode():
    if not pgbouncer.installed():
        pytest.skip(pgbouncer.MISSING)
    base = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    assert connection.settings_dict["NAME"] == f"test_{base}"  # the one the run below reuses
    files = marked_files()
    with pgbouncer.pgbouncer(os.environ["DATABASE_URL"]) as bouncer:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--reuse-db",
                "-m",
                MARKER,
                *files,
            ],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": bouncer.url(base), "DATABASE_POOLER": "pgbouncer"},
            capture_output=True,
            text=True,
            timeout=900,
        )
    output = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 20, summary
    assert not re.search(r"skipped|failed|error", summary), output
    print(f"through PgBouncer: {summary} ({len(files)} files)")
