"""Several nodes, proven (docs/operations.md, "Several nodes"): two app nodes, each in a
network namespace of its own with its own address, each running the production server
(granian, as the Makefile's SERVE) and a notifier (``manage.py notifier``) as separate
processes, all on one PostgreSQL database reached through PgBouncer in transaction mode
(wlm/tests/pgbouncer.py) on the bridge between the namespaces; the SMTP server is a real
one (aiosmtpd) in the test, on the bridge too, so it sees which node sends each message.

- A deny through node A is answered by node B's lean path within 1 s (and a restore
  through B by A's). That B answers from its lean path, not from Django, is shown first:
  a change written with the change log's triggers switched off is not seen by B's lean
  path, while Django's view on B (a query string sends the request to Django) sees it.
- The Send Key throttle counts the attempts of both nodes together.
- Node A dies (SIGKILL, its server and its notifier) while its notifier is sending, in
  the middle of a claim of deliveries; node B keeps answering, and B's notifier sends
  everything, A's claimed deliveries once their lease (NOTICE_LEASE_SECONDS, short here)
  has ended: every notice decided once, every e-mail received exactly once.

Skipped where network namespaces cannot be made (not root, no CAP_NET_ADMIN) or Debian's
pgbouncer is missing; on SQLite (one machine's database) it does not apply.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from wlm.tests import pgbouncer
from wlm.tests.netns import Network, Unavailable, network
from wlm.tests.smtp import Mail, free_port

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="several nodes share one PostgreSQL database"
)
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PORT = 8000  # every node's server, each in its own namespace
# the Makefile's SERVE, one worker per node
SERVE = [str(BIN / "granian"), "--interface", "wsgi", "--host", "0.0.0.0", "--port", str(PORT)]
SERVE += ["--workers", "1", "--blocking-threads", "1", "--no-ws", "wlm.wsgi:application"]
NOTIFIER = [sys.executable, "manage.py", "notifier", "--interval", "1"]
LICENSES = 16  # each with a notice due now: 4 e-mails and 2 inbox deliveries
KILL_AT = 10  # node A dies when its notifier sends its 10th e-mail
LEASE = 8  # seconds (NOTICE_LEASE_SECONDS): a dead notifier's claim is free again after it
SENDER = "licenses@nodes.test"
PROPAGATION = 1.0  # seconds: a change seen by every process's lean path (docs/dataplane.md)


@pytest.fixture
def net():
    try:
        with network("a", "b") as made:
            yield made
    except Unavailable as why:
        pytest.skip(f"several nodes need network namespaces: {why}")


@pytest.fixture
def bouncer(net: Network):
    if not pgbouncer.installed():
        pytest.skip(pgbouncer.MISSING)
    with pgbouncer.pgbouncer(os.environ["DATABASE_URL"], host=net.gateway) as running:
        yield running


@pytest.fixture
def database():
    """A PostgreSQL database of this test's own (not pytest-django's): (its name, its
    URL on the server itself). Dropped afterwards."""
    url = urlsplit(os.environ["DATABASE_URL"])
    name = f"{url.path.lstrip('/')}_nodes"
    admin = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, urlunsplit(url._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Processes:
    """The processes the test starts, each the leader of a process group of its own
    (granian's workers are its children): killed with their groups, by their ids."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.started[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.started[name]

    def kill(self, name: str) -> None:
        process = self.started[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def kill_all(self) -> None:
        for name in self.started:
            self.kill(name)


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.kill_all()


def call(address: str, method: str, path: str, token: str, body: dict | None = None):
    """(status, JSON answer) of a request to a node, as a gateway or an API client sends it:
    a token, no cookie, no language."""
    client = http.client.HTTPConnection(address, PORT, timeout=10)
    try:
        headers = {"Authorization": f"Token {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        client.request(
            method, path, body=None if body is None else json.dumps(body), headers=headers
        )
        response = client.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        client.close()


class Recorder:
    """The SMTP server's handler: keeps each accepted message with the address of the node
    that sent it. At the ``kill_at``-th message from ``victim`` it calls ``kill`` first and
    refuses that message: the node dies in the middle of its claim, and the message
    never reached anyone."""

    def __init__(self, victim: str, kill_at: int, kill):
        self.victim, self.kill_at, self.kill = victim, kill_at, kill
        self.accepted: list[tuple[str, Mail]] = []
        self.from_victim = 0
        self.victim_sends = threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        node = session.peer[0]
        with self.lock:
            if node == self.victim:
                self.from_victim += 1
                self.victim_sends.set()
                if self.from_victim == self.kill_at:
                    self.kill()
                    return "451 the node died"
            self.accepted.append(
                (node, Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            )
        return "250 OK"


def seed(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "wlm.tests.nodes_seed", str(LICENSES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def wait_until_serving(processes: Processes, name: str, address: str, path: str, token: str):
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _ = call(address, "GET", path, token)
            assert status == 200, processes.log(name)
            return
        except OSError:
            if processes.started[name].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"node {name} did not start:\n{processes.log(name)}")
            time.sleep(0.2)  # polling for a process to listen, not waiting for time to pass


def seconds_until(answer, wanted: str, limit: float) -> float:
    """Seconds until ``answer()`` (a status) is ``wanted``, asked again and again; fails
    after ``limit``."""
    started = time.monotonic()
    while True:
        got = answer()
        elapsed = time.monotonic() - started
        if got == wanted:
            return elapsed
        assert elapsed < limit, f"still {got} after {elapsed:.2f} s"
        time.sleep(0.01)


def quietly(url: str, license_id: int, status: str) -> None:
    """Write the license's status with its table's triggers off (in the transaction of
    the write, so no other writer misses them): no change-log row, so no process's lean
    path hears of it, while Django reads it."""
    with psycopg.connect(url) as db:
        db.execute("ALTER TABLE licenses_license DISABLE TRIGGER USER")
        db.execute("UPDATE licenses_license SET status = %s WHERE id = %s", [status, license_id])
        db.execute("ALTER TABLE licenses_license ENABLE TRIGGER USER")


def all_sent(url: str, emails: int) -> bool:
    """Whether the notices were decided and every e-mail delivery is marked sent (only a
    pending delivery is ever claimed, so nothing is sent after)."""
    with psycopg.connect(url) as db:
        sent, other = db.execute(
            "SELECT count(*) FILTER (WHERE state = 'sent'), "
            "count(*) FILTER (WHERE state <> 'sent') "
            "FROM notifications_delivery WHERE channel = 'email'"
        ).fetchone()
    return sent == emails and other == 0


@dataclass
class Cluster:
    """The two running nodes as the test calls them."""

    a: str  # node A's address
    b: str
    world: dict  # what nodes_seed wrote
    direct_url: str  # the database on PostgreSQL itself (the nodes go through PgBouncer)

    @property
    def entitlement(self) -> str:
        return f"/api/v1/locations/{self.world['hotel']}/entitlement/"

    def lean(self, address: str) -> str:
        """The Hotel's license status in the answer of a node's lean path (a gateway's
        request: no query string, no cookie, no language)."""
        status, answer = call(address, "GET", self.entitlement, self.world["tokens"]["gateway"])
        assert status == 200, answer
        return answer["status"]

    def django(self, address: str) -> str:
        """The same from Django's view on that node (a query string: not the lean path)."""
        token = self.world["tokens"]["gateway"]
        status, answer = call(address, "GET", self.entitlement + "?format=json", token)
        assert status == 200, answer
        return answer["status"]

    def change(self, address: str, action: str, body: dict) -> None:
        """Deny or restore the Hotel's license through a node's API (its distributor)."""
        path = f"/api/v1/licenses/{self.world['hotel_license']}/{action}/"
        status, answer = call(address, "POST", path, self.world["tokens"]["dist_admin"], body)
        assert status == 200, answer


def lean_paths_see_each_others_changes(nodes: Cluster) -> tuple[float, float]:
    """B answers from its lean path, and a deny through A reaches it within a second (a
    restore through B reaches A's); the two delays."""
    a, b = nodes.a, nodes.b
    assert nodes.lean(a) == nodes.lean(b) == "in_use"
    # a change the change log does not carry is not seen by B's lean path (for four of
    # its refresh periods), while Django's view on B reads it
    quietly(nodes.direct_url, nodes.world["hotel_license"], "access_denied")
    assert nodes.django(b) == "access_denied"
    started = time.monotonic()
    while time.monotonic() - started < PROPAGATION:
        assert nodes.lean(b) == "in_use"
    quietly(nodes.direct_url, nodes.world["hotel_license"], "in_use")
    assert nodes.django(b) == "in_use"

    nodes.change(a, "deny", {"reason": "unpaid"})
    denied = seconds_until(lambda: nodes.lean(b), "access_denied", PROPAGATION)
    nodes.change(b, "restore", {})
    restored = seconds_until(lambda: nodes.lean(a), "in_use", PROPAGATION)
    seconds_until(lambda: nodes.lean(b), "in_use", PROPAGATION)  # B's own, by the log too
    return denied, restored


def send_key_attempts(nodes: Cluster) -> list[int]:
    """The statuses of six Send Key attempts with a key that does not exist, by the
    Café's admin, through A, B, A, B, A, B."""
    path = f"/api/v1/locations/{nodes.world['cafe']}/activate/"
    token, key = nodes.world["tokens"]["org_admin"], {"key": "NOKEY-NOKEY-NOKEY-NOKEY-NOKEY"}
    return [call(address, "POST", path, token, key)[0] for address in [nodes.a, nodes.b] * 3]


class Asking(threading.Thread):
    """Asks a node's lean path again and again until stopped; counts the answers."""

    def __init__(self, nodes: Cluster, address: str):
        super().__init__()
        self.nodes, self.address = nodes, address
        self.answers: Counter = Counter()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.answers[self.nodes.lean(self.address)] += 1
            except (OSError, AssertionError) as error:
                self.answers[f"failed: {error}"] += 1
            time.sleep(0.02)  # a gateway's pace, not a wait for time to pass


def test_two_nodes_share_the_database_the_throttles_and_the_notices_and_survive_one_dying(
    net, bouncer, database, processes, tmp_path
):
    name, direct_url = database
    a, b = net.nodes["a"].address, net.nodes["b"].address
    # the SMTP server kills node A (its server and its notifier) at A's KILL_AT-th e-mail
    mailbox = Recorder(
        a, KILL_AT, kill=lambda: (processes.kill("web-a"), processes.kill("notifier-a"))
    )
    smtp = Controller(mailbox, hostname=net.gateway, port=free_port(net.gateway))
    env = {
        **os.environ,
        "DATABASE_URL": direct_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATA_DIR": str(tmp_path / "data"),
        "DEBUG": "0",
        "SECURE_SSL": "0",
        "ALLOWED_HOSTS": f"{a},{b}",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": net.gateway,
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_TIMEOUT": "1",
        "WEBHOOK_TIMEOUT": "1",
        "DEFAULT_FROM_EMAIL": SENDER,
        "NOTICE_LEASE_SECONDS": str(LEASE),
        "THROTTLE_ACTIVATE_USER": "4/min",
        "THROTTLE_ACTIVATE_ADDRESS": "1000/min",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_POOLER", None)
    nodes = Cluster(a, b, seed(env), direct_url)  # seeded straight on PostgreSQL
    env.update(DATABASE_URL=bouncer.url(name), DATABASE_POOLER="pgbouncer")  # the nodes' way
    for node in ("a", "b"):
        processes.start(f"web-{node}", net.nodes[node].command(*SERVE), env)
    for node, address in (("a", a), ("b", b)):
        token = nodes.world["tokens"]["gateway"]
        wait_until_serving(processes, f"web-{node}", address, nodes.entitlement, token)

    denied, restored = lean_paths_see_each_others_changes(nodes)
    print(
        f"a deny through A seen by B's lean path after {denied:.3f} s, a restore through B "
        f"by A's after {restored:.3f} s"
    )

    # the Send Key throttle (4 attempts a minute per user here) counts both nodes' attempts
    assert send_key_attempts(nodes) == [404, 404, 404, 404, 429, 429]

    # A's notifier starts alone, B's once A sends; A dies at its KILL_AT-th e-mail, in the
    # middle of its claim, while B's lean path is asked all along
    expected = LICENSES * len(nodes.world["addresses"])
    asking = Asking(nodes, b)
    smtp.start()
    try:
        asking.start()
        processes.start("notifier-a", net.nodes["a"].command(*NOTIFIER), env)
        assert mailbox.victim_sends.wait(60), processes.log("notifier-a")
        processes.start("notifier-b", net.nodes["b"].command(*NOTIFIER), env)
        deadline = time.monotonic() + LEASE + 40
        while not all_sent(direct_url, expected) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the database for the notifiers' work
    finally:
        asking.stop.set()
        if asking.is_alive():
            asking.join()
        smtp.stop()
    assert len(mailbox.accepted) == expected, (
        f"{len(mailbox.accepted)} of {expected} e-mails:\n{processes.log('notifier-b')}"
    )

    # every e-mail exactly once: one message about each license to each address, and the
    # messages are the deliveries (their Message-IDs)
    received = Counter()
    for _node, mail in mailbox.accepted:
        (key,) = [key for key in nodes.world["shop_keys"] if key in mail.message["Subject"]]
        received.update((key, to) for to in mail.rcpt_tos)
    assert received == Counter(
        {(key, to): 1 for key in nodes.world["shop_keys"] for to in nodes.world["addresses"]}
    )
    with psycopg.connect(direct_url) as db:
        keys = [
            row[0]
            for row in db.execute("SELECT key FROM notifications_delivery WHERE channel = 'email'")
        ]
        notices = db.execute(
            "SELECT number, state, count(*) FROM notifications_notice "
            "WHERE state <> 'scheduled' GROUP BY 1, 2"
        ).fetchall()
        deliveries = db.execute(
            "SELECT channel, state, count(*) FROM notifications_delivery GROUP BY 1, 2"
        ).fetchall()
        taken_over = db.execute(
            "SELECT count(*) FILTER (WHERE attempts = 2), max(attempts) "
            "FROM notifications_delivery WHERE channel = 'email'"
        ).fetchone()
        attempts = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE ok), count(DISTINCT delivery_id) "
            "FROM notifications_attempt"
        ).fetchone()
    sent_ids = [mail.header("Message-ID") for _node, mail in mailbox.accepted]
    domain = SENDER.partition("@")[2]
    assert sorted(sent_ids) == sorted(f"<{key}@{domain}>" for key in keys)
    assert len(set(sent_ids)) == expected
    assert notices == [(1, "sent", LICENSES)]  # each license's notice decided once
    assert sorted(deliveries) == [("email", "sent", expected), ("inbox", "sent", 2 * LICENSES)]
    assert attempts == (expected, expected, expected)  # one attempt each, accepted

    # both nodes' work: A's until it died, then B's, with what A had claimed (a second
    # attempt each, after A's lease)
    by_node = Counter(node for node, _mail in mailbox.accepted)
    assert by_node == {a: KILL_AT - 1, b: expected - (KILL_AT - 1)}
    assert taken_over[0] >= 1 and taken_over[1] == 2, taken_over

    # B answered all along; A is gone
    assert set(asking.answers) == {"in_use"}, asking.answers
    with pytest.raises(OSError):
        call(a, "GET", nodes.entitlement, nodes.world["tokens"]["gateway"])
