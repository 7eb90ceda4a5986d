"""PostgreSQL stopped under a running server, then started again (docs/dataplane.md,
"When the database is away").

A private cluster of the test's own (``initdb`` into a temporary folder, ``pg_ctl`` on a
free port, its socket in that folder; the machine's own server is untouched) serves the
production server (granian, as ``make run`` starts it) and ``manage.py notifier``. With
the cluster stopped: the entitlement check and RADIUS answer what the process knows,
marked ``WLM-Served-From: cache``; what it does not know, the management API, the pages
and the intake answer 503 with ``Retry-After``, each within a bound; the notifier waits.
Started again: everything answers as before within seconds, without a restart, and the
intake's retry with its Idempotency-Key and the buffered accounting count once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from wlm.tests.test_fresh_setup import ROOT, call, free_port, serve

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="runs once, in the PostgreSQL pass"
    ),
]
BOUND = 3.0  # seconds: no answer waits longer while the database is away
BACK_WITHIN = 10.0  # seconds after the database is back: everything answers as before
SEED = """
import json
from types import SimpleNamespace

from django.conf import settings
from django.core.management import call_command
from django.test import Client

from wlm.conftest import make_user, provisioned_license, token_for
from wlm.lib import clock
from wlm.locations.models import AccessPoint, Location
from wlm.tenancy.models import Distributor, Organization, Partner, Role, TenantType

call_command("migrate", verbosity=0)
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # test users
dist = Distributor.objects.create(name="Dist", email="dist@example.com")
partner = Partner.objects.create(name="Partner", email="partner@example.com")
partner.distributors.add(dist)
org = Organization.objects.create(name="Org", partner=partner, email="org@example.com")
place = dict(organization=org, address="Calle 1", country="ES", timezone="Europe/Madrid")
hotel = Location.objects.create(name="Hotel", sector="hospitality", **place)
shop = Location.objects.create(name="Shop", sector="retail", **place)
AccessPoint.objects.create(location=hotel, mac="02:00:00:00:00:01", name="Lobby")
world = SimpleNamespace(
    dist=dist,
    dist_admin=make_user("dist_admin", TenantType.DISTRIBUTOR, dist),
    org_admin=make_user("org_admin", TenantType.ORGANIZATION, org),
)
gateway = make_user("gateway", TenantType.STAFF, role=Role.GATEWAY)
provisioned_license(world, hotel, clock.now())  # pending start: served
browser = Client()
browser.force_login(world.org_admin)
print(json.dumps({
    "hotel": str(hotel.pk),
    "shop": str(shop.pk),
    "gateway": token_for(gateway),
    "admin": token_for(world.dist_admin),
    "session": browser.cookies["sessionid"].value,
}))
"""


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: beside the one on the PATH, else
    Debian's."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


class Cluster:
    """A PostgreSQL cluster in ``folder`` on ``port``, run as ``owner`` (PostgreSQL
    refuses to run as root)."""

    def __init__(self, folder: Path, port: int, owner: str | None) -> None:
        self.folder, self.port, self.owner = folder, port, owner
        self.url = f"postgres://postgres@127.0.0.1:{port}/wlm"

    def run(self, tool: str, *args: str) -> None:
        command = [str(postgres_bin() / tool), *args]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{tool}: {done.stdout}\n{done.stderr}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        data, log = str(self.folder / "data"), str(self.folder / "server.log")
        self.run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def query(self, sql: str, params=()):
        with psycopg.connect(self.url, connect_timeout=3) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture
def cluster():
    """A new cluster with an empty database ``wlm``, stopped and removed afterwards."""
    if postgres_bin() is None:
        pytest.skip("initdb and pg_ctl not found (Debian: postgresql-15)")
    owner = None
    if os.geteuid() == 0:
        owner = "postgres"
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: PostgreSQL will not start")
    folder = Path(tempfile.mkdtemp(prefix="wlm-outage-"))  # short: a socket path's limit
    try:
        if owner:
            shutil.chown(folder, owner)
        server = Cluster(folder, free_port(), owner)
        server.run(
            "initdb", "-D", str(folder / "data"), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        server.start()
        try:
            with psycopg.connect(server.url.replace("/wlm", "/postgres"), autocommit=True) as db:
                db.execute("CREATE DATABASE wlm")
            yield server
        finally:
            subprocess.run(
                [
                    *(["runuser", "-u", owner, "--"] if owner else []),
                    str(postgres_bin() / "pg_ctl"),
                    *("-D", str(folder / "data"), "-m", "immediate", "stop"),
                ],
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def until(check, seconds: float):
    """``check()``'s first true answer within ``seconds`` (polling a server that comes
    back; the clock is not what is tested), else the last one."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def assert_unavailable(answer, content_type="application/problem+json"):
    status, headers, body, seconds = answer
    assert status == 503, body
    assert headers["content-type"].startswith(content_type), headers
    assert int(headers["retry-after"]) > 0
    assert seconds < BOUND, f"answered after {seconds:.1f} s"
    if content_type == "application/problem+json":
        assert json.loads(body)["type"].endswith("/unavailable"), body


def test_postgresql_stopped_and_started_under_the_running_server(cluster, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "DATA_DIR": str(tmp_path / "data"),
        "DEBUG": "0",
        "SECURE_SSL": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env["SECRET_KEY"] = "outage-test-" + "0" * 40  # one key for the processes' sessions
    static = subprocess.Popen(  # the pages' files, while the database is made
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
    )
    seeded = subprocess.run(  # migrate, then a license, its location and their users
        [sys.executable, "manage.py", "shell", "-c", SEED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    assert static.wait(timeout=120) == 0

    port = free_port()
    server = serve(env, port, tmp_path / "server.log")
    notifier_log = tmp_path / "notifier.log"
    with notifier_log.open("wb") as output:
        notifier = subprocess.Popen(
            [sys.executable, "manage.py", "notifier", "--interval", "1"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    gateway = {"Authorization": f"Token {seed['gateway']}"}
    admin = {"Authorization": f"Token {seed['admin']}"}
    page = {"Cookie": f"sessionid={seed['session']}"}
    hotel = f"/api/v1/locations/{seed['hotel']}/entitlement/"
    shop = f"/api/v1/locations/{seed['shop']}/entitlement/"
    question = {"called_station_id": "02-00-00-00-00-01:Guests", "calling_station_id": "AA-01"}
    start = {
        "status_type": "Start",
        "called_station_id": "02-00-00-00-00-01:Guests",
        "calling_station_id": "AA-BB-CC-00-00-01",
        "acct_session_id": "session-1",
    }
    batch = {"events": [{"location": seed["hotel"], "device": "AA-BB-CC-00-00-02"}]}
    intake = {**gateway, "Idempotency-Key": "batch-1"}
    try:
        # what the process knows: the hotel's facts, the access point, the gateway's token
        before = call(port, "GET", hotel, **gateway)
        assert before[0] == 200 and "wlm-served-from" not in before[1], before
        accepted = call(port, "POST", "/api/v1/radius/authorize/", question, **gateway)
        assert accepted[0] == 200, accepted
        assert call(port, "GET", "/api/v1/licenses/", **admin)[0] == 200

        cluster.stop()

        # the data plane answers from memory with the same bodies: marked once the process
        # has found the database away (its next refresh, within 0.25 s, or token check)
        answers = []

        def marked():
            answers.append(call(port, "GET", hotel, **gateway))
            return "wlm-served-from" in answers[-1][1]

        assert until(marked, 2.0), answers
        assert {(status, body) for status, _, body, _ in answers} == {(200, before[2])}
        assert answers[-1][1]["wlm-served-from"] == "cache"
        assert max(seconds for *_, seconds in answers) < BOUND
        radius = call(port, "POST", "/api/v1/radius/authorize/", question, **gateway)
        assert (radius[0], radius[2], radius[1]["wlm-served-from"]) == (200, accepted[2], "cache")
        counted = call(port, "POST", "/api/v1/radius/accounting/", start, **gateway)
        assert (counted[0], counted[1]["wlm-served-from"]) == (204, "cache")  # buffered
        # what it does not know, and everything else: 503 with Retry-After, at once
        assert_unavailable(call(port, "GET", shop, **gateway))
        assert_unavailable(call(port, "GET", "/api/v1/licenses/", **admin))
        assert_unavailable(call(port, "GET", "/", **page))
        assert_unavailable(call(port, "GET", "/", Accept="text/html", **page), "text/html")
        assert_unavailable(call(port, "POST", "/api/v1/connections/", batch, **intake))
        # the notifier waits for the database
        assert until(lambda: "cannot be reached" in notifier_log.read_text(), BACK_WITHIN)
        assert notifier.poll() is None, notifier_log.read_text()
        assert server.poll() is None

        cluster.start()

        # everything answers as before, without a restart
        def answers_again():
            now = call(port, "GET", hotel, **gateway)
            return now[0] == 200 and "wlm-served-from" not in now[1] and now

        back = until(answers_again, BACK_WITHIN)
        assert back and back[2] == before[2], back
        assert until(lambda: call(port, "GET", shop, **gateway)[0] == 200, BACK_WITHIN)
        assert call(port, "GET", "/api/v1/licenses/", **admin)[0] == 200
        status, headers, _body, _seconds = call(port, "GET", "/", Accept="text/html", **page)
        assert status == 200 and headers["content-type"].startswith("text/html")
        # the gateway's retry counts its batch; another retry replays the answer
        first = call(port, "POST", "/api/v1/connections/", batch, **intake)
        again = call(port, "POST", "/api/v1/connections/", batch, **intake)
        assert (first[0], json.loads(first[2])["accepted"]) == (200, 1), first
        assert (again[0], again[2], again[1].get("idempotent-replayed")) == (200, first[2], "true")
        # the buffered Start is written too: two devices, each counted once
        events = "SELECT COALESCE(SUM(events), 0) FROM connections_locationday"
        assert until(lambda: cluster.query(events) == [(2,)], BACK_WITHIN), cluster.query(events)
        devices = cluster.query("SELECT COUNT(*) FROM connections_pendingdevice")
        assert devices == [(2,)]
        assert until(lambda: "answers again" in notifier_log.read_text(), BACK_WITHIN)
        assert notifier.poll() is None, notifier_log.read_text()
    finally:
        for process in (server, notifier):
            process.terminate()
            process.wait(timeout=30)
