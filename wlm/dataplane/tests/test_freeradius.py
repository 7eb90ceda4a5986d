"""FreeRADIUS with the repository's configuration (deploy/freeradius/), driven by Debian's
radclient against the live server (docs/radius.md)."""

import datetime as dt
import socket
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from wlm.conftest import token_for
from wlm.connections.models import LocationDay
from wlm.dataplane.tests.conftest import SECRET
from wlm.licenses import lifecycle
from wlm.licenses.models import LicenseStatus as S
from wlm.licenses.models import Module
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.tests import radius
from wlm.tests.radius import MESSAGE_AUTHENTICATOR

LOBBY = "02-00-00-00-00-01"  # the world's hotel access point (wlm/conftest.py)
GUEST = "0A-00-00-00-00-99"


def access_request(ap: str = LOBBY, ssid: str = "Guest") -> dict:
    return {
        "User-Name": GUEST,
        "Called-Station-Id": f"{ap}:{ssid}",
        "Calling-Station-Id": GUEST,
        "NAS-Identifier": "ap-lobby",
    }


def test_the_configuration_passes_freeradius_check(radius_config):
    env = radius.environment(
        auth_port=radius.free_udp_port(),
        acct_port=radius.free_udp_port(),
        secret=SECRET,
        api_url="http://127.0.0.1:8000",
        token="0" * 40,
    )
    checked = radius.check(radius_config, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Loaded virtual server default" in checked.stdout


def test_a_per_nas_client_from_a_clients_file_has_its_own_secret(tmp_path):
    """A clients file (RADIUS_CLIENTS_FILE of `make radius`) adds NASes by CIDR, each with
    its own secret; the local client keeps the main one."""
    if radius.missing():
        pytest.skip(radius.missing())
    clients = tmp_path / "nas.conf"
    clients.write_text(
        "client branch_aps {\n"
        "\tipaddr = 127.0.0.0/24\n"
        '\tsecret = "branch-secret"\n'
        "\trequire_message_authenticator = yes\n"
        "}\n"
    )
    raddb = radius.private_copy(tmp_path / "copy", clients_file=clients)
    server = radius.FreeRadius(raddb, secret=SECRET, api_url="http://127.0.0.1:9", token="t")
    try:
        server.start()
        assert radius.status_from("127.0.0.2", server.auth_port, "branch-secret") == 2
        assert radius.status_from("127.0.0.2", server.auth_port, SECRET) is None
        assert radius.status_from("127.0.0.1", server.auth_port, SECRET) == 2
    finally:
        server.stop()


def test_the_server_answers_status_server_without_calling_the_service(freeradius):
    code, _ = freeradius.send({}, kind="status")
    assert code == "Access-Accept"


def test_a_packet_with_a_wrong_shared_secret_gets_no_answer(freeradius):
    code, _ = freeradius.send(access_request(), secret="not-the-secret", timeout=1.0)
    assert code is None
    assert "Shared secret is incorrect" in freeradius.output()


def test_an_access_request_without_message_authenticator_gets_no_answer(freeradius):
    code, _ = freeradius.send(access_request(), message_authenticator=False, timeout=1.0)
    assert code is None


def test_nothing_secret_is_written_to_the_log(freeradius):
    freeradius.send(access_request())
    freeradius.send(access_request(), secret="not-the-secret", timeout=1.0)
    log = freeradius.output()
    assert freeradius.secret not in log
    assert freeradius.token not in log


# --- Access-Requests answered by the service, through the lean path and through Django ---

BOTH = pytest.mark.parametrize("served", ["front", "django"], indirect=True)


def local_today(location) -> dt.date:
    return dt.datetime.now(ZoneInfo(location.timezone)).date()


def cut_off(license) -> dt.datetime:
    """Service ends at the local midnight that starts the license's end date."""
    return dt.datetime.combine(license.end_date, dt.time(), tzinfo=ZoneInfo(license.timezone))


def in_use_until(world, end: dt.date):
    """An in-use license of the hotel whose last day of service is the day before ``end``."""
    return make_license(world, S.IN_USE, start=end.replace(year=end.year - 4), years=4)


def with_modules(license, *codes: str):
    # the catalogue's rows are a migration's: gone once a transactional test has flushed
    for code in codes:
        Module.objects.get_or_create(code=code, defaults={"name": code.title()})
    license.modules.set(Module.objects.filter(code__in=codes))
    return license


@BOTH
def test_a_licensed_access_point_gets_an_accept_with_the_session_limit_and_modules(
    world, freeradius, settings
):
    end = local_today(world.hotel) + dt.timedelta(days=400)
    with_modules(in_use_until(world, end), "pms", "guest")
    code, reply = freeradius.send(access_request())
    assert code == "Access-Accept", reply
    assert int(reply["Session-Timeout"]) == settings.RADIUS_SESSION_TIMEOUT
    assert radius.text(reply["Class"]) == "modules=guest,pms"
    assert "Reply-Message" not in reply
    assert MESSAGE_AUTHENTICATOR in reply  # signed (BlastRADIUS); radclient checked it


@BOTH
@pytest.mark.parametrize("station", ["02:00:00:00:00:01", "020000000001:Guest", "0200.0000.0001"])
def test_other_spellings_of_the_access_point_name_it_too(world, freeradius, station):
    in_use_until(world, local_today(world.hotel) + dt.timedelta(days=400))
    code, _ = freeradius.send({**access_request(), "Called-Station-Id": station})
    assert code == "Access-Accept"


REASONS = {
    "unknown_access_point": lambda world: None,
    "no_license": lambda world: None,
    "pending_provision": lambda world: make_license(world, S.PENDING_PROVISION),
    "expired": lambda world: make_license(world, S.IN_USE, start=dt.date(2020, 1, 15), years=2),
    "access_denied": lambda world: make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE),
    "contract_finalized": lambda world: make_license(world, S.CONTRACT_FINALIZED),
}


@BOTH
@pytest.mark.parametrize("reason", REASONS)
def test_no_service_is_an_access_reject_with_the_reason(world, freeradius, reason):
    REASONS[reason](world)
    ap = "02-00-00-00-00-99" if reason == "unknown_access_point" else LOBBY
    code, reply = freeradius.send(access_request(ap))
    assert code == "Access-Reject"
    assert reply["Reply-Message"] == reason
    assert MESSAGE_AUTHENTICATOR in reply
    assert "Session-Timeout" not in reply
    assert "Class" not in reply


def answer_within(freeradius, expected: str, seconds: float) -> tuple[str, dict, float]:
    """Ask until the answer's code is ``expected`` or ``seconds`` have passed: the last
    answer and how long it took."""
    started = time.monotonic()
    while True:
        code, reply = freeradius.send(access_request())
        elapsed = time.monotonic() - started
        if code == expected or elapsed > seconds:
            return code, reply, elapsed


@BOTH
def test_a_deny_turns_accept_into_reject_within_a_second_and_a_restore_back(world, freeradius):
    license = in_use_until(world, local_today(world.hotel) + dt.timedelta(days=400))
    assert freeradius.send(access_request())[0] == "Access-Accept"
    lifecycle.deny(world.dist_admin, license.pk, "unpaid invoice")
    code, reply, elapsed = answer_within(freeradius, "Access-Reject", 1.0)
    assert (code, reply.get("Reply-Message")) == ("Access-Reject", "access_denied")
    assert elapsed <= 1.0
    lifecycle.restore(world.dist_admin, license.pk, "paid")
    code, _, elapsed = answer_within(freeradius, "Access-Accept", 1.0)
    assert code == "Access-Accept"
    assert elapsed <= 1.0


@BOTH
def test_the_session_of_a_license_ending_tomorrow_ends_at_tonights_cut_off(world, freeradius):
    license = in_use_until(world, local_today(world.hotel) + dt.timedelta(days=1))
    before = (cut_off(license) - dt.datetime.now(dt.UTC)).total_seconds()
    code, reply = freeradius.send(access_request())
    after = (cut_off(license) - dt.datetime.now(dt.UTC)).total_seconds()
    assert code == "Access-Accept"
    assert after - 1 <= int(reply["Session-Timeout"]) <= before < 86400


@BOTH
def test_session_timeout_ends_at_the_cut_off_and_service_with_it(world, freeradius):
    """The live server runs in this process: time moved here is moved there."""
    license = in_use_until(world, local_today(world.hotel) + dt.timedelta(days=30))
    with time_machine.travel(cut_off(license) - dt.timedelta(seconds=90), tick=False):
        code, reply = freeradius.send(access_request())
        assert (code, int(reply["Session-Timeout"])) == ("Access-Accept", 90)
    with time_machine.travel(cut_off(license), tick=False):
        code, reply = freeradius.send(access_request())
        assert (code, reply["Reply-Message"]) == ("Access-Reject", "expired")


@BOTH
def test_a_token_that_is_not_a_gateways_gets_a_reject_without_a_reason(
    world, radius_config, served
):
    in_use_until(world, local_today(world.hotel) + dt.timedelta(days=400))
    token = token_for(world.org_admin)
    server = radius.FreeRadius(radius_config, secret=SECRET, api_url=served.url, token=token)
    try:
        code, reply = server.start().send(access_request())
    finally:
        server.stop()
    assert code == "Access-Reject"
    assert "Reply-Message" not in reply


def test_no_service_to_ask_is_a_reject_without_a_reason(radius_config):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        server = radius.FreeRadius(radius_config, secret=SECRET, api_url=url, token="0" * 40)
        try:
            code, reply = server.start().send(access_request())
        finally:
            server.stop()
    assert code == "Access-Reject"
    assert "Reply-Message" not in reply


def test_freeradius_refuses_to_start_without_a_shared_secret(radius_config):
    env = radius.environment(
        auth_port=radius.free_udp_port(),
        acct_port=radius.free_udp_port(),
        secret="",
        api_url="http://127.0.0.1:8000",
        token="0" * 40,
    )
    checked = radius.check(radius_config, env)
    assert checked.returncode != 0
    assert "secret must be at least 1 character long" in checked.stdout


# --- Accounting-Requests: the devices of a location's access points ---

NOW = dt.datetime(2027, 3, 10, 23, 30, tzinfo=dt.UTC)  # already the 11th at the hotel


def accounting_start(n: int, status: str = "Start", session: str = "") -> dict:
    """Device n's Accounting-Request from the hotel's access point, n minutes before NOW."""
    return {
        "Acct-Status-Type": status,
        "Acct-Session-Id": session or f"session-{n}",
        "Called-Station-Id": f"{LOBBY}:Guest",
        "Calling-Station-Id": f"0A-00-00-00-01-{n:02X}",
        "NAS-Identifier": "ap-lobby",
        "Event-Timestamp": int((NOW - dt.timedelta(minutes=10 - n)).timestamp()),
    }


def events_at(location) -> int:
    return sum(LocationDay.objects.filter(location=location).values_list("events", flat=True))


@BOTH
@time_machine.travel(NOW, tick=False)
def test_the_fifth_accounting_start_starts_the_license_on_the_local_date(world, freeradius, served):
    license = make_license(world, S.PENDING_START)
    for n in range(1, 6):
        assert freeradius.send(accounting_start(n), kind="acct")[0] == "Accounting-Response"
    served.written()
    license.refresh_from_db()
    assert license.status == S.IN_USE
    assert license.start_date == dt.date(2027, 3, 11)  # the fifth came at 23:25 UTC
    assert events_at(world.hotel) == 5


@BOTH
@time_machine.travel(NOW, tick=False)
def test_a_retransmitted_accounting_start_counts_once(world, freeradius, served):
    make_license(world, S.PENDING_START)
    for _ in range(3):  # radclient makes each a new packet: the service recognizes it
        assert freeradius.send(accounting_start(1), kind="acct")[0] == "Accounting-Response"
    served.written()
    assert events_at(world.hotel) == 1


@BOTH
@pytest.mark.parametrize("status", ["Interim-Update", "Stop"])
@time_machine.travel(NOW, tick=False)
def test_interim_updates_and_stops_are_answered_and_change_nothing(
    world, freeradius, served, status
):
    license = make_license(world, S.PENDING_START)
    for n in range(1, 6):
        packet = accounting_start(n, status=status)
        assert freeradius.send(packet, kind="acct")[0] == "Accounting-Response"
    served.written()
    assert events_at(world.hotel) == 0
    license.refresh_from_db()
    assert license.status == S.PENDING_START
