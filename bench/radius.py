"""``make bench BENCH=radius``: Access-Requests and Accounting-Starts through FreeRADIUS
(Debian's 3.2.1 with the repository's configuration, deploy/freeradius/) to the service's
lean path, beside references measured in the same run.

For each database (SQLite, PostgreSQL), on a fresh database with ``--locations`` locations
(``generate_load``, every status) and ``--radius-aps`` registered access points at each:

- the ceiling: FreeRADIUS with no backend, answering from its ``files`` module (one entry
  per access point asked, keyed by ``Called-Station-Id``: Accept with Session-Timeout and
  Class, or Reject with the reason), Accounting-Requests acknowledged at once;
- the HTTP hop's ceiling: FreeRADIUS's ``rest`` module calling a WSGI application that
  answers Accept to everything (``fixed_answer``) under the production server;
- the product: FreeRADIUS's ``rest`` module calling ``wlm.wsgi:application`` under the
  production server (``SERVE``), as `make radius` runs it. Access-Requests over a hot set
  of ``--radius-hot`` access points once each server process has read it (a warm-up),
  as fast as they are answered; then offered at the goal's rate (5,000/s, open loop) for
  the latency there; then Accounting-Starts, each one distinct, and how many of them the
  database holds once the server's buffers have been written;
- on PostgreSQL, the design a platform would otherwise build: FreeRADIUS's ``rlm_sql``
  (Debian's ``freeradius-postgresql``) running the same decision as SQL over our own
  tables (the access point's location, its stored license, that license's status, end
  date and time zone, its modules) on the same database.

Every answer is checked against the rule (Accept or Reject for each access point, from
the stored licenses at the start); a wrong one is reported.

FreeRADIUS runs threaded in the foreground (``freeradius -f -l stdout``, never ``-X``),
from a private copy of deploy/freeradius/ on free ports; the references only replace its
``authorize`` and ``accounting`` sections and the modules they call, so clients, thread
pool and reply signing are the repository's.

The load generator is this file run as ``python bench/radius.py load <spec>``: one process,
plain UDP sockets and epoll, every packet built before the clock starts (Access-Request
with User-Name, User-Password, NAS-IP-Address, Called-Station-Id, Calling-Station-Id,
NAS-Identifier and Message-Authenticator; Accounting-Request Start with Acct-Session-Id and
Event-Timestamp); ``--radius-concurrency`` packets in flight (closed loop), or a fixed
rate (open loop); the latency of each packet is taken by its id from send to answer. It
is only a load client, not a RADIUS implementation. That it is not the bottleneck shows
in the report: its own CPU share in every run, and its rate against FreeRADIUS with no
backend. The CPU each process used during a run (the client, FreeRADIUS, the server's
processes, the database's PostgreSQL backends) is in the report as microseconds per
packet: where the time goes. ``--profile`` samples the server's workers with py-spy
during the product's Access-Requests (after the warm-up).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import re
import resource
import select
import shutil
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

GOAL_RATE, GOAL_P99_MS, GOAL_RATIO, GOAL_ACCOUNTING = 5_000, 20, 0.5, 5_000
SECRET = "wlm-bench-radius-secret"
SSID = "Guest"
PG_DATABASE = "wlm_bench_radius"
FREERADIUS = "/usr/sbin/freeradius"
RLM_SQL_POSTGRESQL = "/usr/lib/freeradius/rlm_sql_postgresql.so"
READY = "Ready to process requests"

# RADIUS codes and attributes (RFC 2865, 2866, 2869)
ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
CODE_NAMES = {
    ACCESS_ACCEPT: "Access-Accept",
    ACCESS_REJECT: "Access-Reject",
    ACCOUNTING_RESPONSE: "Accounting-Response",
}
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS = 1, 2, 4
CALLED_STATION_ID, CALLING_STATION_ID, NAS_IDENTIFIER = 30, 31, 32
ACCT_STATUS_TYPE, ACCT_SESSION_ID, EVENT_TIMESTAMP = 40, 44, 55
MESSAGE_AUTHENTICATOR = 80
START = 1


# --- the load client (run in its own process) ------------------------------------------


def _attribute(kind: int, value: bytes) -> bytes:
    return bytes([kind, len(value) + 2]) + value


def _hidden(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password as sent (RFC 2865 5.2)."""
    padded = password + bytes(-len(password) % 16 if password else 16)
    hidden, previous = b"", authenticator
    for start in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()  # noqa: S324 (RADIUS's own cipher)
        previous = bytes(a ^ b for a, b in zip(padded[start : start + 16], key, strict=True))
        hidden += previous
    return hidden


def access_request(identifier: int, entry: list, secret: bytes, rng: random.Random) -> bytes:
    """An Access-Request (MAC authentication of the device ``entry`` names at its access
    point), signed with Message-Authenticator."""
    called, calling, nas = (value.encode() for value in entry[:3])
    authenticator = rng.randbytes(16)
    attributes = b"".join(
        [
            _attribute(USER_NAME, calling),
            _attribute(USER_PASSWORD, _hidden(calling, secret, authenticator)),
            _attribute(NAS_IP_ADDRESS, bytes([127, 0, 0, 1])),
            _attribute(CALLED_STATION_ID, called),
            _attribute(CALLING_STATION_ID, calling),
            _attribute(NAS_IDENTIFIER, nas),
            _attribute(MESSAGE_AUTHENTICATOR, bytes(16)),
        ]
    )
    unsigned = struct.pack("!BBH", ACCESS_REQUEST, identifier, 20 + len(attributes))
    unsigned += authenticator + attributes
    signature = hmac.new(secret, unsigned, hashlib.md5).digest()
    return unsigned[:-16] + signature


def accounting_start(identifier: int, entry: list, secret: bytes, rng: random.Random) -> bytes:
    """An Accounting-Request with Acct-Status-Type Start (RFC 2866 authenticator)."""
    called, calling, nas, session = (value.encode() for value in entry[:4])
    attributes = b"".join(
        [
            _attribute(ACCT_STATUS_TYPE, struct.pack("!I", START)),
            _attribute(ACCT_SESSION_ID, session),
            _attribute(USER_NAME, calling),
            _attribute(NAS_IP_ADDRESS, bytes([127, 0, 0, 1])),
            _attribute(CALLED_STATION_ID, called),
            _attribute(CALLING_STATION_ID, calling),
            _attribute(NAS_IDENTIFIER, nas),
            _attribute(EVENT_TIMESTAMP, struct.pack("!I", int(time.time()))),
        ]
    )
    header = struct.pack("!BBH", ACCOUNTING_REQUEST, identifier, 20 + len(attributes))
    authenticator = hashlib.md5(header + bytes(16) + attributes + secret).digest()  # noqa: S324
    return header + authenticator + attributes


def _packets(spec: dict, secret: bytes) -> list[list[list[tuple[bytes, int]]]]:
    """Each socket's packets by id (0-255): the entries dealt over the sockets' ids, each
    built once with its own Request Authenticator. An id is sent again only once its
    answer came; for Access-Requests (sent round and round) each id has at least two
    packets, so a repeated id never carries the authenticator FreeRADIUS just answered
    (it would answer from its duplicate cache). Accounting-Starts are sent once each."""
    rng = random.Random(spec["seed"])
    build = access_request if spec["kind"] == "auth" else accounting_start
    entries, slots = spec["entries"], spec["sockets"] * 256
    if spec["kind"] == "auth":
        entries = [entries[i % len(entries)] for i in range(max(len(entries), 2 * slots))]
    packets: list[list[list[tuple[bytes, int]]]] = [
        [[] for _ in range(256)] for _ in range(spec["sockets"])
    ]
    for index, entry in enumerate(entries):
        slot = index % slots
        identifier = slot // spec["sockets"]
        packets[slot % spec["sockets"]][identifier].append(
            (build(identifier, entry, secret, rng), entry[4])
        )
    return packets


def load(spec: dict) -> dict:
    """For ``seconds``: keep ``concurrency`` packets in flight (closed loop), or with
    ``rate`` send that many packets a second whatever the answers (open loop); Starts stop
    once each was sent and answered. The answers within that time, their latencies, what
    was lost or wrong."""
    secret = spec["secret"].encode()
    repeat = spec["kind"] == "auth"
    rate = spec.get("rate")
    packets = _packets(spec, secret)
    count = len(packets)
    total = sum(len(mine) for by_id in packets for mine in by_id)
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.connect(("127.0.0.1", spec["port"]))
        sock.setblocking(False)
        sockets.append(sock)
    poller = select.epoll()
    by_fd = {sock.fileno(): n for n, sock in enumerate(sockets)}
    for sock in sockets:
        poller.register(sock.fileno(), select.EPOLLIN)
    free = [deque(range(256)) for _ in range(count)]  # ids not in flight, oldest first
    turn = [[0] * 256 for _ in range(count)]  # each id's next packet
    sent_at = [[0.0] * 256 for _ in range(count)]
    expected = [[0] * 256 for _ in range(count)]
    in_packet = [[b""] * 256 for _ in range(count)]  # to name a wrong answer
    wrong_samples: list[dict] = []
    in_flight = [0] * count
    latencies = array("d")
    codes: dict[int, int] = {}
    totals = {"sent": 0, "wrong": 0, "lost": 0, "late": 0, "no_free_id": 0}
    clock = time.perf_counter
    timeout = spec["timeout"]

    def send(n: int) -> bool:
        ids = free[n]
        while ids:
            identifier = ids.popleft()
            mine = packets[n][identifier]
            index = turn[n][identifier]
            if index >= len(mine):
                if not repeat:
                    continue  # this id's Starts were all sent
                index = 0
            turn[n][identifier] = index + 1
            data, code = mine[index]
            sockets[n].send(data)
            sent_at[n][identifier] = clock()
            expected[n][identifier] = code
            in_packet[n][identifier] = data
            in_flight[n] += 1
            totals["sent"] += 1
            return True
        return False

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = clock()
    deadline, checked, turn_of_socket, lag = started + spec["seconds"], started, 0, 0.0
    issued = 0  # packets due so far (open loop), sent or not
    if not rate:
        for n in range(count):
            for _ in range(max(1, spec["concurrency"] // count)):
                send(n)
    measuring = True
    while True:
        now = clock()
        finished = not repeat and totals["sent"] == total and not any(in_flight)
        if measuring and (now >= deadline or finished):
            measuring = False
            answered, ended = len(latencies), now
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            deadline = now + 2 * timeout  # what is still in flight may still come
        if not measuring and (now >= deadline or not any(in_flight)):
            break
        wait = 0.05
        if rate and measuring:
            due = int((now - started) * rate) + 1 - issued
            if due > 0:
                lag = max(lag, now - started - (issued + 1) / rate)
            for _ in range(due):
                issued += 1
                for _ in range(count):  # the next socket with an id free
                    turn_of_socket = (turn_of_socket + 1) % count
                    if send(turn_of_socket):
                        break
                else:  # every id of every socket in flight: this packet is not sent
                    totals["no_free_id"] += 1
            wait = max(0.0, (issued + 1) / rate - (clock() - started))
        for fd, _event in poller.poll(wait):
            n = by_fd[fd]
            sock = sockets[n]
            while True:
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    break
                received = clock()
                identifier = answer[1]
                at = sent_at[n][identifier]
                if not at:
                    totals["late"] += 1  # answered after it was given up
                    continue
                sent_at[n][identifier] = 0.0
                in_flight[n] -= 1
                free[n].append(identifier)
                codes[answer[0]] = codes.get(answer[0], 0) + 1
                if answer[0] != expected[n][identifier]:
                    totals["wrong"] += 1
                    if len(wrong_samples) < 5:
                        wrong_samples.append(
                            {
                                "request": _station(in_packet[n][identifier]),
                                "expected": CODE_NAMES.get(expected[n][identifier]),
                                "answer": CODE_NAMES.get(answer[0], str(answer[0])),
                            }
                        )
                if measuring:
                    latencies.append(received - at)
                    if not rate:
                        send(n)
        if now - checked > 0.1:  # give up on what waited longer than the timeout
            checked = now
            for n in range(count):
                for identifier in range(256):
                    at = sent_at[n][identifier]
                    if at and now - at > timeout:
                        sent_at[n][identifier] = 0.0
                        in_flight[n] -= 1
                        free[n].append(identifier)
                        totals["lost"] += 1
                        if measuring and not rate:
                            send(n)
    totals["lost"] += sum(in_flight)
    wall = ended - started
    used = (cpu_after.ru_utime - cpu.ru_utime) + (cpu_after.ru_stime - cpu.ru_stime)
    ordered = sorted(latencies)

    def percentile(share: float) -> float:
        if not ordered:
            return float("nan")
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)

    return {
        "per_s": round(answered / wall),
        "answered": answered,
        **totals,
        "codes": {CODE_NAMES.get(code, str(code)): n for code, n in sorted(codes.items())},
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else float("nan"),
        "seconds": round(wall, 2),
        "client_cpu_share": round(used / wall, 3),
        "send_lag_ms": round(lag * 1000, 2),
        "wrong_samples": wrong_samples,
    }


def _station(packet: bytes) -> str:
    """The Called-Station-Id of a packet we built (to name a wrong answer)."""
    index = 20
    while index < len(packet):
        kind, length = packet[index], packet[index + 1]
        if kind == CALLED_STATION_ID:
            return packet[index + 2 : index + length].decode()
        index += length
    return ""


def load_main() -> None:
    spec = json.loads(Path(sys.argv[2]).read_text())
    print(json.dumps(load(spec)))


if __name__ == "__main__" and sys.argv[1:2] == ["load"]:
    load_main()
    raise SystemExit(0)


# --- the HTTP hop's ceiling: a WSGI application with a fixed answer ----------------------

FIXED_ACCEPT = (
    b'{"control:Auth-Type": "Accept", "reply:Session-Timeout": 86400, "reply:Class": "modules="}'
)


def fixed_answer(environ, start_response):
    """What FreeRADIUS's rest module gets from a service that does nothing: an Accept for
    every Access-Request, a 204 for every Accounting-Request (served as
    ``bench.radius:fixed_answer`` under the production server)."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ.get("PATH_INFO", "").endswith("/accounting/"):
        start_response("204 No Content", [])
        return [b""]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(FIXED_ACCEPT)))]
    start_response("200 OK", headers)
    return [FIXED_ACCEPT]


# --- the benchmark ----------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common, when served as bench.radius
import psycopg  # noqa: E402 (the load client above runs without the benchmark's imports)
from common import (  # noqa: E402
    PORT,
    PYTHON,
    ROOT,
    SERVE,
    WORK,
    fresh_database,
    log,
    manage,
    profiler,
    server,
    settle,
)

CONFIGURATION = ROOT / "deploy" / "freeradius"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--radius-aps", type=int, default=2, help="radius: APs per location")
    parser.add_argument("--radius-hot", type=int, default=5_000, help="radius: APs asked")
    parser.add_argument("--radius-seconds", type=float, default=5, help="radius: per run")
    parser.add_argument("--radius-warm-up", type=float, default=5, help="radius: warm-up")
    parser.add_argument(
        "--radius-concurrency", type=int, default=64, help="radius: packets in flight"
    )
    parser.add_argument(
        "--radius-sockets", type=int, default=16, help="radius: client sockets (256 ids each)"
    )
    parser.add_argument(
        "--radius-starts", type=int, default=100_000, help="radius: Accounting-Starts at most"
    )


# --- FreeRADIUS ---------------------------------------------------------------------------

ALWAYS = "always ok {\n\trcode = ok\n}\n"

FILES = """files {
\tkey = "%{Called-Station-Id}"
\tfilename = ${confdir}/bench.users
}
"""

# The service's decision in SQL over our own tables: the access point's location, its
# stored license (licenses_currentlicense), that license's status, end date (the cut-off
# is the local midnight starting it, in the license's time zone) and modules. rlm_sql
# reads check rows (Auth-Type := Accept or Reject) then reply rows, one query each.
_FACTS_SQL = (
    "SELECT l.id, CASE WHEN l.id IS NULL THEN 'no_license' "
    "WHEN l.status IN ('pending_start', 'in_use') THEN CASE WHEN l.end_date IS NOT NULL "
    "AND now() >= l.end_date::timestamp AT TIME ZONE l.timezone THEN 'expired' ELSE 'ok' END "
    "ELSE l.status END AS reason, "
    "extract(epoch FROM l.end_date::timestamp AT TIME ZONE l.timezone - now()) AS left_s "
    "FROM locations_accesspoint ap "
    "LEFT JOIN licenses_currentlicense c ON c.location_id = ap.location_id "
    "LEFT JOIN licenses_license l ON l.id = c.license_id "
    "WHERE ap.mac = upper(translate(left('%{SQL-User-Name}', 17), '-', ':'))"
)
SQL = """sql {
	dialect = "postgresql"
	driver = "rlm_sql_postgresql"
	radius_db = "<conninfo>"
	read_clients = no
	read_groups = no
	read_profiles = no
	delete_stale_sessions = no
	# the access point: Called-Station-Id ("AA-BB-CC-DD-EE-FF:SSID"), its MAC read in SQL
	sql_user_name = "%{Called-Station-Id}"
	authorize_check_query = "WITH f AS (<facts>) SELECT 1, '', 'Auth-Type', \\
CASE WHEN reason = 'ok' THEN 'Accept' ELSE 'Reject' END, ':=' FROM f"
	authorize_reply_query = "WITH f AS (<facts>) SELECT 1, '', 'Session-Timeout', \\
greatest(1, least(86400, coalesce(left_s, 86400)))::bigint::text, '=' FROM f \\
WHERE reason = 'ok' UNION ALL SELECT 2, '', 'Class', 'modules=' || coalesce((SELECT \\
string_agg(m.module_id, ',' ORDER BY m.module_id) FROM licenses_license_modules m \\
WHERE m.license_id = f.id), ''), '=' FROM f WHERE reason = 'ok' \\
UNION ALL SELECT 3, '', 'Reply-Message', reason, '=' FROM f WHERE reason <> 'ok'"
	pool {
		start = ${thread[pool].start_servers}
		min = ${thread[pool].min_spare_servers}
		max = ${thread[pool].max_servers}
		spare = ${thread[pool].max_spare_servers}
		uses = 0
		lifetime = 0
		idle_timeout = 60
		retry_delay = 1
	}
}
""".replace("<facts>", _FACTS_SQL)


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` (a FreeRADIUS site) with the first section ``name { ... }`` holding
    ``body`` instead (braces matched, comments skipped)."""
    match = re.search(rf"^([ \t]*){name}\s*\{{", text, re.M)
    if match is None:
        raise SystemExit(f"radius: no '{name}' section in the repository's site")
    depth, index = 1, match.end()
    while depth:
        char = text[index]
        if char == "#":
            index = text.index("\n", index)
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        index += 1
    indent = match.group(1)
    return f"{text[: match.start()]}{indent}{name} {{\n{indent}\t{body}\n{indent}}}{text[index:]}"


def configuration(kind: str, directory: Path, *, users: str = "", conninfo: str = "") -> Path:
    """A private copy of deploy/freeradius/ (FreeRADIUS refuses files others may write):
    as it is for ``rest``; for the references ``files`` and ``sql``, the site's
    ``authorize`` calls that module instead and ``accounting`` answers at once."""
    raddb = directory / f"raddb-{kind}"
    shutil.rmtree(raddb, ignore_errors=True)
    shutil.copytree(CONFIGURATION, raddb)
    if kind != "rest":
        (raddb / "mods-enabled" / "rest").unlink()
        (raddb / "mods-enabled" / "always").write_text(ALWAYS)
        site = raddb / "sites-enabled" / "default"
        text = replace_section(site.read_text(), "authorize", kind)
        site.write_text(replace_section(text, "accounting", "ok"))
        if kind == "files":
            (raddb / "mods-enabled" / "files").write_text(FILES)
            (raddb / "bench.users").write_text(users)
        else:
            (raddb / "mods-enabled" / "sql").write_text(SQL.replace("<conninfo>", conninfo))
    for path in [raddb, *raddb.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return raddb


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def freeradius(raddb: Path, *, api_url: str = "", token: str = ""):
    """FreeRADIUS threaded in the foreground on free ports until the block ends: its
    process, auth port and acct port."""
    auth, acct = free_udp_port(), free_udp_port()
    output = raddb.parent / f"{raddb.name}.log"
    env = {
        **os.environ,
        "RADIUS_LISTEN": "127.0.0.1",
        "RADIUS_AUTH_PORT": str(auth),
        "RADIUS_ACCT_PORT": str(acct),
        "RADIUS_SECRET": SECRET,
        "API_URL": api_url,
        "RADIUS_API_TOKEN": token,
    }
    with output.open("w") as log_file:
        process = subprocess.Popen(
            [FREERADIUS, "-f", "-l", "stdout", "-d", str(raddb)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while READY not in output.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"FreeRADIUS did not start:\n{output.read_text()[-3000:]}")
            time.sleep(0.05)
        yield process, auth, acct
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors = [line for line in output.read_text().splitlines() if "ERROR" in line]
        if errors:
            log(f"FreeRADIUS ({raddb.name}) logged {len(errors)} errors, e.g. {errors[0]}")


# --- CPU by process ------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _descendants(int(child))
    return found


def _postgres() -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (their process title
    names it)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f" {PG_DATABASE} " in title:
            pids.append(int(entry.name))
    return pids


def udp_receive_drops() -> int:
    """UDP datagrams the kernel dropped so far because a socket's receive buffer was full
    (a lost packet under load is usually one of these)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = [line for line in lines if line[0] == "Udp:"][:2]
    return int(values[names.index("RcvbufErrors")])


def cpu_snapshot(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process with its descendants, and of the
    PostgreSQL backends of the benchmark's database (a backend that ended in between is
    missed)."""
    snapshot = {
        name: sum(_cpu(pid) for pid in _descendants(root)) for name, root in processes.items()
    }
    snapshot["postgresql"] = sum(_cpu(pid) for pid in _postgres())
    return snapshot


# --- runs ------------------------------------------------------------------------------------


def run_load(
    kind: str, port: int, entries: list, seconds: float, args, watched: dict, rate: int = 0
) -> dict:
    """One load client run against FreeRADIUS's ``port`` (``rate``: paced, else
    ``--radius-concurrency`` in flight); with each watched process's CPU per answered
    packet (µs)."""
    spec = WORK / f"radius-{kind}-load.json"
    spec.write_text(
        json.dumps(
            {
                "kind": kind,
                "port": port,
                "secret": SECRET,
                "entries": entries,
                "seconds": seconds,
                "sockets": args.radius_sockets,
                "concurrency": args.radius_concurrency,
                "timeout": 2.0,
                "seed": random.randrange(2**32),
                "rate": rate,
            }
        )
    )
    before, drops = cpu_snapshot(watched), udp_receive_drops()
    client = subprocess.Popen(
        [PYTHON, __file__, "load", str(spec)], stdout=subprocess.PIPE, text=True
    )
    output, _ = client.communicate()
    after = cpu_snapshot(watched)
    if client.returncode:
        raise SystemExit(f"radius: the load client failed ({client.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    result["udp_receive_buffer_drops"] = udp_receive_drops() - drops  # the machine's
    answered = max(1, result["answered"])
    result["cpu_us_per_packet"] = {
        "load client": round(result["client_cpu_share"] * result["seconds"] / answered * 1e6, 1),
        **{name: round((after[name] - before[name]) / answered * 1e6, 1) for name in after},
    }
    return result


def where(measured: dict) -> str:
    """Where the time goes: CPU µs per packet of each process, and the rate that CPU
    would allow on this machine's cores."""
    used = measured["cpu_us_per_packet"]
    total = sum(used.values())
    parts = ", ".join(f"{name} {value:,.0f}" for name, value in used.items() if value >= 0.5)
    bound = (os.cpu_count() or 1) * 1e6 / total if total else 0
    return (
        f"CPU µs per packet: {parts} (= {total:,.0f}: at most {bound:,.0f}/s on "
        f"{os.cpu_count()} cores)"
    )


def warm_up(kind: str, port: int, entries: list, args, watched: dict, each: int = 0) -> list[int]:
    """At least ``--radius-warm-up`` seconds and ``each`` packets for each entry, then
    3-second runs until the rate rises by less than 3%, at most two minutes in all. For
    the product ``each`` is 10, so that each server process has read the hot set (the
    kernel spreads FreeRADIUS's connections over the processes: one misses an access
    point with odds 1 in 2 for each packet). The rates seen (the first: a cold start)."""
    first = run_load(kind, port, entries, args.radius_warm_up, args, watched)
    rates, sent = [first["per_s"]], first["sent"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = run_load(kind, port, entries, 3, args, watched)
        rates.append(run["per_s"])
        sent += run["sent"]
        if sent >= each * len(entries) and rates[-1] < rates[-2] * 1.03:
            break
    return rates


def rounds(
    kind: str, port: int, entries: list, args, watched: dict, label: str, warmed: list | None = None
) -> dict:
    """A warm-up (unless ``warmed`` gives its rates), then ``args.rounds`` runs: the
    medians and every run."""
    if warmed is None:
        warmed = warm_up(kind, port, entries, args, watched)
    runs = [
        run_load(kind, port, entries, args.radius_seconds, args, watched)
        for _ in range(args.rounds)
    ]
    for run in runs:
        if run["lost"] or run["wrong"]:
            log(
                f"radius / {label}: {run['lost']} lost, {run['wrong']} wrong answers, e.g. "
                f"{run['wrong_samples']}"
            )
    median = {
        name: statistics.median(run[name] for run in runs)
        for name in ("per_s", "p50_ms", "p99_ms", "client_cpu_share")
    }
    median["per_s"] = round(median["per_s"])
    median["cpu_us_per_packet"] = {
        name: round(statistics.median(run["cpu_us_per_packet"][name] for run in runs), 1)
        for name in runs[0]["cpu_us_per_packet"]
    }
    median["lost"] = sum(run["lost"] for run in runs)
    median["wrong"] = sum(run["wrong"] for run in runs)
    log(
        f"radius / {label}: {median['per_s']:,} Access-Requests/s, p99 {median['p99_ms']} ms "
        f"(warm-up {warmed}); {where(median)}"
    )
    return {**median, "warm_up_per_s": warmed, "runs": runs}


def paced(port: int, entries: list, args, watched: dict, label: str) -> dict:
    """``args.rounds`` runs offering ``GOAL_RATE`` Access-Requests a second whatever the
    answers (after ``rounds``, warm): the medians and every run."""
    runs = [
        run_load("auth", port, entries, args.radius_seconds, args, watched, rate=GOAL_RATE)
        for _ in range(args.rounds)
    ]
    median = {
        name: statistics.median(run[name] for run in runs)
        for name in ("per_s", "p50_ms", "p99_ms", "client_cpu_share")
    }
    median["lost"] = sum(run["lost"] for run in runs)
    median["udp_receive_buffer_drops"] = sum(run["udp_receive_buffer_drops"] for run in runs)
    median["not_sent"] = sum(run["no_free_id"] for run in runs)  # every id in flight
    median["wrong"] = sum(run["wrong"] for run in runs)
    log(
        f"radius / {label}: offered {GOAL_RATE:,}/s: answered {median['per_s']:,}/s, p50 "
        f"{median['p50_ms']} ms, p99 {median['p99_ms']} ms, {median['lost']} lost "
        f"({median['udp_receive_buffer_drops']} dropped by full UDP receive buffers), "
        f"{median['not_sent']} not sent (every id in flight)"
    )
    return {**median, "offered_per_s": GOAL_RATE, "runs": runs}


# --- data ------------------------------------------------------------------------------------

ACCESS_POINTS = """
import json
from wlm.dataplane import triggers
from wlm.locations.models import AccessPoint
rows = json.load(open({path!r}))
with triggers.paused():  # rows no server process has read yet
    AccessPoint.objects.bulk_create(
        [AccessPoint(location_id=location, mac=mac, name=name) for location, mac, name in rows],
        batch_size=5000,
    )
"""


def ap_mac(number: int, ap: int) -> str:
    """A locally administered MAC of the ``ap``th access point of location ``number``."""
    octets = [0x0A, (number >> 16) & 0xFF, (number >> 8) & 0xFF, number & 0xFF, 0x00, ap]
    return ":".join(f"{octet:02X}" for octet in octets)


STORED_LICENSES = (
    "SELECT c.location_id, l.status, l.end_date, l.timezone FROM licenses_currentlicense c "
    "LEFT JOIN licenses_license l ON l.id = c.license_id"
)


def reasons(url: str) -> dict[str, str]:
    """Each location's entitlement reason now, by the rule (wlm.licenses.entitlement,
    written again here to check the answers): its stored license's status, and for one
    that serves, ``expired`` from the local midnight starting its end date."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            rows = connection.execute(STORED_LICENSES).fetchall()
    else:
        with psycopg.connect(url) as connection:
            rows = connection.execute(STORED_LICENSES).fetchall()
    now = dt.datetime.now(dt.UTC)
    found = {}
    for location, status, end_date, zone in rows:
        reason = status or "no_license"
        if status in ("pending_start", "in_use"):
            if isinstance(end_date, str):
                end_date = dt.date.fromisoformat(end_date)
            ended = end_date is not None and now.astimezone(ZoneInfo(zone)).date() >= end_date
            reason = "expired" if ended else "ok"
        found[str(uuid.UUID(str(location)))] = reason
    return found


def prepare(database: str, args) -> tuple[str, str, list[dict]]:
    """A fresh database with ``generate_load``'s locations and their access points: its
    URL, the gateway's token and every access point (MAC, location, the answer's reason)."""
    url = fresh_database(database, PG_DATABASE)
    manage(url, "migrate", "--noinput", "-v0")
    manifest_path = WORK / "radius-manifest.json"
    log(f"radius / {database}: generating {args.locations:,} locations")
    manage(
        url, "generate_load", "--locations", str(args.locations), "--manifest", str(manifest_path)
    )
    manifest = json.loads(manifest_path.read_text())
    locations = sorted(location for ids in manifest["locations"].values() for location in ids)
    aps = [
        {"mac": ap_mac(number, ap), "location": location}
        for number, location in enumerate(locations)
        for ap in range(1, args.radius_aps + 1)
    ]
    rows_path = WORK / "radius-access-points.json"
    rows_path.write_text(json.dumps([[ap["location"], ap["mac"], f"AP {ap['mac']}"] for ap in aps]))
    manage(url, "shell", "-v0", "-c", ACCESS_POINTS.format(path=str(rows_path)))
    if database == "postgres":
        settle(url)
    reason_of = reasons(url)
    for ap in aps:
        ap["reason"] = reason_of.get(ap["location"], "no_license")
    return url, manifest["gateway_token"], aps


def called_station(mac: str) -> str:
    """Called-Station-Id as access points send it (RFC 3580): ``AA-BB-CC-DD-EE-FF:SSID``."""
    return f"{mac.replace(':', '-')}:{SSID}"


def device(rng: random.Random) -> str:
    return "-".join(f"{octet:02X}" for octet in [0x02, *rng.randbytes(5)])


def auth_entries(hot: list[dict], rng: random.Random) -> list[list]:
    """[Called-Station-Id, Calling-Station-Id, NAS-Identifier, "", expected code] for each
    access point of the hot set (the same guests at each)."""
    return [
        [
            called_station(ap["mac"]),
            device(rng),
            f"ap-{ap['mac'][-5:].replace(':', '')}",
            "",
            ACCESS_ACCEPT if ap["reason"] == "ok" else ACCESS_REJECT,
        ]
        for ap in hot
    ]


def start_entries(hot: list[dict], count: int, rng: random.Random) -> list[list]:
    """``count`` distinct Accounting-Starts: guests arriving at the hot set's access points,
    each with its own Acct-Session-Id."""
    entries = []
    for number in range(count):
        ap = hot[number % len(hot)]
        entries.append(
            [
                called_station(ap["mac"]),
                device(rng),
                f"ap-{ap['mac'][-5:].replace(':', '')}",
                f"{number:08X}",
                ACCOUNTING_RESPONSE,
            ]
        )
    return entries


def users_file(hot: list[dict]) -> str:
    """The ``files`` module's entries: each access point asked, answered as the service
    answers it (Accept with Session-Timeout and Class, or Reject with the reason)."""
    lines = []
    for ap in hot:
        if ap["reason"] == "ok":
            lines.append(
                f'"{called_station(ap["mac"])}"\tAuth-Type := Accept\n'
                '\tSession-Timeout = 86400,\n\tClass = "modules="\n'
            )
        else:
            lines.append(
                f'"{called_station(ap["mac"])}"\tAuth-Type := Reject\n'
                f'\tReply-Message = "{ap["reason"]}"\n'
            )
    lines.append('DEFAULT\tAuth-Type := Reject\n\tReply-Message = "unknown_access_point"\n')
    return "\n".join(lines)


def written_starts(url: str) -> int:
    """The Starts the database holds: their claimed keys (wlm.connections.accounting)."""
    query = "SELECT count(*) FROM connections_intakekey WHERE key LIKE 'radius:%'"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as connection:
            return connection.execute(query).fetchone()[0]
    with psycopg.connect(url) as connection:
        return connection.execute(query).fetchone()[0]


def written_after(url: str, expected: int) -> list[tuple[float, int]]:
    """(seconds after the run, Starts written) until all ``expected`` are, or the count
    has not moved for 5 seconds (at most a minute)."""
    started = time.monotonic()
    seen = [(0.0, written_starts(url))]
    moved = started
    while seen[-1][1] < expected and time.monotonic() - moved < 5:
        if time.monotonic() - started > 60:
            break
        time.sleep(0.25)
        count = written_starts(url)
        if count != seen[-1][1]:
            moved = time.monotonic()
            seen.append((round(moved - started, 2), count))
    return seen


def sql_conninfo(url: str) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(url)
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def one_database(database: str, args) -> dict:
    url, token, aps = prepare(database, args)
    rng = random.Random(11)
    hot = rng.sample(aps, min(args.radius_hot, len(aps)))
    asked = auth_entries(hot, rng)
    starts = start_entries(hot, args.radius_starts, rng)
    measured: dict = {"database": database, "access_points": len(aps), "hot": len(hot)}
    with tempfile.TemporaryDirectory(prefix="radius-", dir=WORK) as directory:
        directory = Path(directory)
        # (a) the ceiling: FreeRADIUS with no backend
        raddb = configuration("files", directory, users=users_file(hot))
        with freeradius(raddb) as (process, auth, acct):
            watched = {"freeradius": process.pid}
            measured["files"] = rounds("auth", auth, asked, args, watched, f"{database}, files")
            ceiling_starts = run_load("acct", acct, starts, args.radius_seconds, args, watched)
            measured["files_accounting"] = ceiling_starts
        log(f"radius / {database}: files, Accounting-Starts {ceiling_starts['per_s']:,}/s")
        # the HTTP hop's ceiling: FreeRADIUS's rest module -> a fixed answer
        with server("bench.radius:fixed_answer", url) as served:
            raddb = configuration("rest", directory)
            api = f"http://127.0.0.1:{PORT}"
            with freeradius(raddb, api_url=api, token=token) as (process, auth, acct):
                watched = {"freeradius": process.pid, "server": served.pid}
                accepted = [[*entry[:4], ACCESS_ACCEPT] for entry in asked]
                label = f"{database}, FreeRADIUS rest -> a fixed answer"
                measured["fixed"] = rounds("auth", auth, accepted, args, watched, label)
        # the product: FreeRADIUS's rest module -> the lean path
        with server("wlm.wsgi:application", url) as served:
            raddb = configuration("rest", directory)
            api = f"http://127.0.0.1:{PORT}"
            with freeradius(raddb, api_url=api, token=token) as (process, auth, acct):
                watched = {"freeradius": process.pid, "server": served.pid}
                label = f"{database}, FreeRADIUS -> lean path"
                warmed = warm_up("auth", auth, asked, args, watched, each=10)
                with profiler(served, f"radius-{database}", args.profile):
                    measured["product"] = rounds("auth", auth, asked, args, watched, label, warmed)
                measured["product_paced"] = paced(auth, asked, args, watched, label)
                accounting = run_load("acct", acct, starts, args.radius_seconds, args, watched)
                acknowledged = accounting["codes"].get("Accounting-Response", 0)
                progress = written_after(url, acknowledged)
        # the server's processes write what they still hold when they stop
        written = written_starts(url)
        accounting.update(
            acknowledged=acknowledged,
            written=written,
            written_while_serving=progress,
            written_at_stop=written - progress[-1][1],
        )
        measured["product_accounting"] = accounting
        log(
            f"radius / {database}: Accounting-Starts {accounting['per_s']:,}/s, p99 "
            f"{accounting['p99_ms']} ms; {written:,} of {acknowledged:,} acknowledged written "
            f"(while serving, seconds after the run: {progress}; at the server's stop: "
            f"{accounting['written_at_stop']:,})"
        )
        # (b) the design a platform would otherwise build: rlm_sql on PostgreSQL
        if database == "postgres":
            if not os.path.exists(RLM_SQL_POSTGRESQL):
                raise SystemExit(
                    f"radius: {RLM_SQL_POSTGRESQL} missing: `make bench` installs Debian's "
                    "freeradius-postgresql"
                )
            raddb = configuration("sql", directory, conninfo=sql_conninfo(url))
            with freeradius(raddb) as (process, auth, acct):
                watched = {"freeradius": process.pid}
                measured["rlm_sql"] = rounds(
                    "auth", auth, asked, args, watched, f"{database}, rlm_sql"
                )
    return measured


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def bench_radius(args) -> dict:
    if not os.path.exists(FREERADIUS):
        raise SystemExit(
            f"radius: {FREERADIUS} missing: `make bench` installs Debian's freeradius, "
            "freeradius-rest and freeradius-postgresql"
        )
    # other work on the machine moves every figure: the load it had is in the report
    load_before = os.getloadavg()
    measured = {database: one_database(database, args) for database in args.databases}
    load_after = os.getloadavg()
    sql = measured.get("postgres", {}).get("rlm_sql")
    rows, goals = [], []
    for database, result in measured.items():
        product, files, at_goal = result["product"], result["files"], result["product_paced"]
        rate, ceiling, p99 = product["per_s"], files["per_s"], at_goal["p99_ms"]
        ratio = rate / ceiling
        checks = {
            f">= {GOAL_RATE:,}/s ({rate:,}/s, p99 {product['p99_ms']} ms with "
            f"{args.radius_concurrency} in flight)": rate >= GOAL_RATE,
            f"p99 < {GOAL_P99_MS} ms at {GOAL_RATE:,}/s offered (p99 {p99} ms, "
            f"{at_goal['lost'] + at_goal['not_sent']} lost)": (
                p99 < GOAL_P99_MS and not at_goal["lost"] and not at_goal["not_sent"]
            ),
            f">= {GOAL_RATIO} of FreeRADIUS files ({ratio:.2f})": ratio >= GOAL_RATIO,
        }
        if sql is not None:
            checks[f"ahead of rlm_sql ({sql['per_s']:,}/s, p99 {sql['p99_ms']} ms)"] = (
                rate > sql["per_s"]
            )
        goals += [
            f"{_verdict(ok)}  Access-Requests ({database}): {goal}" for goal, ok in checks.items()
        ]
        goals.append(f"      FreeRADIUS rest -> lean path ({database}): {where(product)}")
        goals.append(f"      FreeRADIUS files ({database}): {where(files)}")
        fixed = result["fixed"]
        goals.append(
            f"      FreeRADIUS rest -> a fixed answer ({database}): {fixed['per_s']:,}/s, p99 "
            f"{fixed['p99_ms']} ms; {where(fixed)}"
        )
        if ratio < GOAL_RATIO:
            goals.append(
                f"      {GOAL_RATIO} of files is {GOAL_RATIO * ceiling:,.0f}/s: "
                f"{GOAL_RATIO * ceiling / rate:.2f}x the rate measured"
            )
        rows.append(
            {
                "benchmark": f"RADIUS Access-Requests, FreeRADIUS rest -> lean path ({database})",
                "figure": rate,
                "ceiling": ceiling,
                "unit": "req/s",
                "ratio": round(ratio, 4),
                "goal": "; ".join(checks),
                "pass": all(checks.values()),
                "detail": {"product": product, "at_goal_rate": at_goal, "files": files},
            }
        )
        accounting = result["product_accounting"]
        starts, written = accounting["per_s"], accounting["written"]
        acknowledged = accounting["acknowledged"]
        ceiling_starts = result["files_accounting"]["per_s"]
        ok = starts >= GOAL_ACCOUNTING and written == acknowledged and not accounting["wrong"]
        goal = (
            f">= {GOAL_ACCOUNTING:,}/s, every acknowledged Start written ({written:,} of "
            f"{acknowledged:,}; p99 {accounting['p99_ms']} ms)"
        )
        goals.append(f"{_verdict(ok)}  Accounting-Starts ({database}): {goal} ({starts:,}/s)")
        rows.append(
            {
                "benchmark": f"RADIUS Accounting-Starts, FreeRADIUS rest -> lean path ({database})",
                "figure": starts,
                "ceiling": ceiling_starts,
                "unit": "starts/s",
                "ratio": round(starts / ceiling_starts, 4),
                "goal": goal,
                "pass": ok,
                "detail": {"product": accounting, "files": result["files_accounting"]},
            }
        )
    for database, result in measured.items():
        fixed, ceiling = result["fixed"], result["files"]["per_s"]
        rows.append(
            {
                "benchmark": f"RADIUS Access-Requests, FreeRADIUS rest -> a fixed answer "
                f"({database}, reference)",
                "figure": fixed["per_s"],
                "ceiling": ceiling,
                "unit": "req/s",
                "ratio": round(fixed["per_s"] / ceiling, 4),
                "goal": f"— (the HTTP hop with a service that does nothing; p99 "
                f"{fixed['p99_ms']} ms)",
                "pass": True,
                "detail": fixed,
            }
        )
    if sql is not None:
        goals.append(f"      FreeRADIUS rlm_sql (postgres): {where(sql)}")
        ceiling = measured["postgres"]["files"]["per_s"]
        rows.append(
            {
                "benchmark": "RADIUS Access-Requests, FreeRADIUS rlm_sql (postgres, reference)",
                "figure": sql["per_s"],
                "ceiling": ceiling,
                "unit": "req/s",
                "ratio": round(sql["per_s"] / ceiling, 4),
                "goal": f"— (what a platform would otherwise build; p99 {sql['p99_ms']} ms)",
                "pass": True,
                "detail": sql,
            }
        )
    for result in measured.values():
        files = result["files"]
        goals.append(
            f"      the load client ({result['database']}): {files['per_s']:,}/s against "
            f"FreeRADIUS files using {files['client_cpu_share']:.0%} of a core; "
            f"{result['product']['client_cpu_share']:.0%} against the product"
        )
    goals.append(
        f"      load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f}"
    )
    print("\n".join(goals), flush=True)
    return {
        "target": "radius",
        "parameters": {
            "locations": args.locations,
            "access_points_per_location": args.radius_aps,
            "hot_access_points": args.radius_hot,
            "seconds": args.radius_seconds,
            "warm_up_seconds": args.radius_warm_up,
            "rounds": args.rounds,
            "client": f"bench/radius.py load: {args.radius_concurrency} packets in flight over "
            f"{args.radius_sockets} UDP sockets",
            "freeradius": "Debian 3.2.1, deploy/freeradius/, -f -l stdout",
            "server": " ".join(SERVE),
            "figures": "medians of the rounds (accounting: one run of distinct Starts)",
            "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        },
        "goals": goals,
        "rows": rows,
    }
