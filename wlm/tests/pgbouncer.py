"""Debian's PgBouncer in transaction mode, started by a test in front of the suite's
PostgreSQL (docs/operations.md, "PgBouncer"; the Makefile installs the package).

It is stricter than a production PgBouncer, so that whatever relies on session state
fails here every time instead of once in a while under load:

- ``server_reset_query = DISCARD ALL`` after **every** transaction
  (``server_reset_query_always``): a ``SET`` without ``LOCAL``, a ``WITH HOLD`` cursor, a
  prepared statement, a temporary table or an advisory lock is gone before the client's
  next statement, even when it reaches the same server connection;
- the server connections start in another time zone (``America/New_York``): Django's
  ``SET TIME ZONE 'UTC'`` holds only because PgBouncer tracks ``TimeZone`` for each
  client and sets it again on whatever server connection the client gets.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from wlm.tests.smtp import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_TIME_ZONE = "America/New_York"  # not the clients' UTC
MISSING = "Debian's pgbouncer is not installed (`make test` installs it)"


def installed() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


@dataclass
class Bouncer:
    upstream: str  # the DATABASE_URL of PostgreSQL itself
    host: str
    port: int
    log: Path

    def url(self, database: str) -> str:
        """The URL of ``database`` through PgBouncer, with the upstream's user."""
        parts = urlsplit(self.upstream)
        user = parts.username or "postgres"
        return urlunsplit(
            parts._replace(netloc=f"{user}@{self.host}:{self.port}", path=f"/{database}")
        )


def _ini(upstream: str, host: str, port: int, users: Path) -> str:
    parts = urlsplit(upstream)
    server = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432}"
    if parts.password:
        server += f" password={unquote(parts.password)}"
    return f"""\
[databases]
* = {server} timezone={SERVER_TIME_ZONE}

[pgbouncer]
listen_addr = {host}
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 30
server_reset_query = DISCARD ALL
server_reset_query_always = 1
server_check_delay = 0
log_connections = 0
log_disconnections = 0
"""


@contextlib.contextmanager
def pgbouncer(upstream: str, host: str = "127.0.0.1") -> Iterator[Bouncer]:
    """PgBouncer on a free port of ``host`` in front of ``upstream``'s server, every
    database; stopped (SIGTERM) on the way out. Fails with its log if it does not start."""
    user = unquote(urlsplit(upstream).username or "postgres")
    folder = Path(tempfile.mkdtemp(prefix="wlm-pgbouncer-"))
    folder.chmod(0o755)  # it reads its files as the user it runs as (below)
    users = folder / "users.txt"
    users.write_text(f'"{user}" ""\n')
    port = free_port(host)
    ini = folder / "pgbouncer.ini"
    ini.write_text(_ini(upstream, host, port, users))
    for made in (users, ini):
        made.chmod(0o644)
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:  # it refuses to run as root
        try:
            pwd.getpwnam("postgres")
            command[1:1] = ["-u", "postgres"]
        except KeyError:
            command[1:1] = ["-u", "nobody"]
    bouncer = Bouncer(upstream, host, port, folder / "pgbouncer.log")
    with bouncer.log.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(process, bouncer)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(process: subprocess.Popen, bouncer: Bouncer) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(bouncer.url("postgres"), connect_timeout=2) as probe:
                probe.execute("SELECT 1")
            return
        except psycopg.Error:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"pgbouncer did not start:\n{bouncer.log.read_text()}") from None
            time.sleep(0.1)  # polling for a process to listen, not waiting for time to pass
