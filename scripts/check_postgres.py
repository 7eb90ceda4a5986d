"""Fail loudly when the PostgreSQL test pass has no server: it is never skipped."""

import os
import sys

import psycopg

url = os.environ["DATABASE_URL"]
try:
    with psycopg.connect(url, connect_timeout=5) as connection:
        version = connection.execute("show server_version").fetchone()[0]
except psycopg.Error as error:
    sys.exit(
        f"PostgreSQL is required for the second test pass and was not reached at {url}:\n"
        f"  {error}\nStart it (see README, 'Tests') or set DATABASE_URL."
    )
print(f"PostgreSQL {version} reachable at {url}")
