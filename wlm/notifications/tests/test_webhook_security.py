"""Webhooks against hostile receivers, for real: private destinations refused at connect
time, nothing of what a server sent kept in the attempt log, TLS checked against the
URL's host name on the pinned address, one deadline for a whole request, and a slow
receiver that holds up neither the other receivers nor the notifier's decisions
(docs/notifications.md, wlm/lib/outbound.py)."""

from __future__ import annotations

import datetime as dt
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest
import time_machine

from wlm.lib import outbound
from wlm.licenses.models import LicenseStatus
from wlm.locations.models import Location
from wlm.notifications import channels, worker
from wlm.notifications.models import Channel, Delivery, DeliveryState
from wlm.notifications.tests.conftest import DUE_DAYS, local_midnight, make_in_use

pytestmark = pytest.mark.django_db

T0 = local_midnight(DUE_DAYS[1])  # notice 1 of the ``in_use`` license
NOT_ALLOWED = "destination not allowed (private address)"
TIMED_OUT = "webhook not reached: timed out"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


# --- a real TCP server whose answer each test writes ---------------------------------


@dataclass
class Receiver:
    """What a test server saw: connections, the requests' heads, and when they came."""

    port: int = 0
    answer: bytes = NO_CONTENT
    dribble: float | None = None  # seconds between the answer's bytes
    banner: bool = False  # speaks first (SSH, SMTP…), without reading a request
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each request
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        receiver: Receiver = self.server.receiver
        sock = self.request
        if receiver.banner:  # greets first, then reads (and ignores) what the client says
            sock.sendall(receiver.answer)
            _read_request(sock)
            while sock.recv(65536):  # until the client hangs up
                pass
            return
        receiver.heads.append(_read_request(sock))
        receiver.arrived.append(time.monotonic())
        try:
            if receiver.dribble is None:
                sock.sendall(receiver.answer)
                return
            for byte in receiver.answer:  # one byte at a time, until the client gives up
                if receiver.stop.wait(receiver.dribble):
                    return
                sock.sendall(bytes([byte]))
        except OSError:
            return  # the client closed the connection: what a deadline does


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")[1:]
            if line.startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def verify_request(self, request, client_address) -> bool:
        self.receiver.connections += 1
        return True


def serve(handler=_Handler, wrap=None):
    server = _Server(("127.0.0.1", 0), handler)
    if wrap is not None:
        server.socket = wrap(server.socket)
    server.receiver = Receiver(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    return server


def close(server) -> None:
    server.receiver.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver():
    server = serve()
    yield server.receiver
    close(server)


@pytest.fixture
def another_receiver():
    server = serve()
    yield server.receiver
    close(server)


def webhook_to(tenant, url: str) -> None:
    """A URL stored as it is, without the validation of a save (a row from before it)."""
    type(tenant).objects.filter(pk=tenant.pk).update(webhook_url=url)


def attempts(delivery: Delivery) -> list[tuple[bool, str]]:
    return [(a.ok, a.detail) for a in delivery.attempt_log.order_by("id")]


def the_webhook() -> Delivery:
    return Delivery.objects.get(channel=Channel.WEBHOOK)


# --- SSRF: only public destinations, also for rows stored before the check ----------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "127.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
)
def test_a_stored_private_url_is_refused_at_send_without_a_connection(
    settings, world, in_use, receiver, run_at, host
):
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the default
    webhook_to(world.dist, receiver.url(host=host))
    result = run_at(T0)
    assert result.retried == 1 and result.delivered == 4  # the e-mails went out
    assert receiver.connections == 0
    assert attempts(the_webhook()) == [(False, NOT_ALLOWED)]
    assert the_webhook().last_error == NOT_ALLOWED


def test_the_setting_admits_loopback_for_development(settings, world, in_use, receiver, run_at):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    webhook_to(world.dist, receiver.url(host="localhost"))
    assert run_at(T0).delivered == 5
    assert receiver.connections == 1
    assert attempts(the_webhook()) == [(True, "HTTP 204")]


def test_the_attempt_log_keeps_no_byte_of_a_banner(settings, world, in_use, run_at):
    """A service that is not HTTP (here one that greets like SSH) is only "not HTTP"."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    server = serve()
    server.receiver.banner = True
    server.receiver.answer = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    try:
        webhook_to(world.dist, server.receiver.url())
        run_at(T0)
    finally:
        close(server)
    assert attempts(the_webhook()) == [(False, "webhook answer is not HTTP")]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (b"HTTP/1.1 500 db=10.0.0.7 user=admin\r\nContent-Length: 0\r\n\r\n", "HTTP 500"),
        (b"HTTP/1.1 401 OpenSSH_9.2p1\r\nX-Secret: 1\r\n\r\nSSH-2.0", "HTTP 401"),
        (b"HTTP/1.1 202 Accepted by nginx/1.25\r\nContent-Length: 0\r\n\r\n", "HTTP 202"),
        (b"", "webhook not reached: connection closed without an answer"),
        (b"HTTP/1.1 2x0 SSH-2.0-OpenSSH\r\n\r\n", "webhook answer is not HTTP"),
        (  # 80 KB of headers: more than is read
            b"HTTP/1.1 200 OK\r\n" + (b"X-Pad: " + b"a" * 1000 + b"\r\n") * 80 + b"\r\n",
            "webhook answer is not HTTP",
        ),
    ],
)
def test_an_answer_is_kept_as_a_status_or_a_fixed_text(
    settings, world, in_use, receiver, run_at, answer, detail
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver.answer = answer
    webhook_to(world.dist, receiver.url())
    run_at(T0)
    ((ok, stored),) = attempts(the_webhook())
    assert stored == detail
    assert ok == detail.startswith("HTTP 2")


def test_a_host_name_that_does_not_resolve_is_a_short_fixed_error(settings, world, in_use, run_at):
    webhook_to(world.dist, "https://metadata.google.internal/computeMetadata/v1/")
    run_at(T0)
    assert attempts(the_webhook()) == [(False, "webhook not reached: host not found")]


# --- the connection goes to the checked address --------------------------------------


def test_the_connection_uses_the_checked_address_and_sends_the_urls_host(receiver):
    """The host name is not looked up a second time (a DNS server could answer otherwise
    the second time: rebinding): the connection goes to the address that was checked,
    while ``Host`` names the URL's host. ``rebinding.invalid`` resolves nowhere."""
    destination = outbound.parse(f"http://rebinding.invalid:{receiver.port}/hook?x=1")
    pinned = [(socket.AF_INET, ("127.0.0.1", receiver.port))]
    connection = outbound._PinnedConnection(destination, pinned, outbound._Deadline(5))
    try:
        connection.request("POST", destination.target, body=b"{}")
        assert connection.response().status == 204
    finally:
        connection.close()
    (head,) = receiver.heads
    assert head.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"\r\nHost: rebinding.invalid:{receiver.port}".encode() in head


# --- TLS: SNI and the certificate are those of the URL's host name -------------------


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA, and certificates it signed for ``localhost`` and for another name."""
    where = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
        "-subj", "/CN=WLM test CA", *ca.split(), cwd=where,
    )  # fmt: skip
    for name in ("localhost", "other.test"):
        (where / f"{name}.ext").write_text(
            f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
            "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
        )
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=where,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext",
            cwd=where,
        )  # fmt: skip
    return where


@pytest.fixture
def tls_receiver(certificates, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 whose certificate names ``localhost`` and that
    records the SNI name it was asked for; the test CA is trusted (``SSL_CERT_FILE``,
    the standard OpenSSL variable, read by ``ssl.create_default_context``)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    names: list[str | None] = []

    def servers(name: str):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates / f"{name}.pem", certificates / f"{name}.key")
        context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
        started = serve(wrap=lambda sock: context.wrap_socket(sock, server_side=True))
        started.receiver.names = names
        return started

    started = []

    def start(name: str = "localhost") -> Receiver:
        started.append(servers(name))
        return started[-1].receiver

    yield start
    for server in started:
        close(server)


def test_https_checks_the_certificate_against_the_urls_host_name(tls_receiver):
    receiver = tls_receiver("localhost")
    request = channels.WebhookRequest(
        f"https://localhost:{receiver.port}/hook", b"{}", "secret", "key-1"
    )
    assert channels.post_webhook(request, timeout=5, allow_private=True) == "HTTP 204"
    assert receiver.names == ["localhost"]  # SNI: the URL's host, not the address
    (head,) = receiver.heads
    assert f"\r\nHost: localhost:{receiver.port}\r\n".encode() in head


def test_https_refuses_a_certificate_for_another_name(tls_receiver):
    receiver = tls_receiver("other.test")
    request = channels.WebhookRequest(
        f"https://localhost:{receiver.port}/hook", b"{}", "secret", "key-1"
    )
    with pytest.raises(channels.DeliveryError) as refused:
        channels.post_webhook(request, timeout=5, allow_private=True)
    assert str(refused.value) == "webhook not reached: TLS certificate not valid"
    assert receiver.heads == []  # nothing was sent


# --- one deadline for the whole request ----------------------------------------------


def test_a_receiver_dribbling_its_answer_fails_within_the_deadline(
    settings, world, in_use, receiver, run_at
):
    """Each byte comes well within any per-read timeout (0.3 s); the whole answer would
    take 12 s. The attempt ends at the 1 s deadline."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_TIMEOUT = 1
    receiver.answer = NO_CONTENT
    receiver.dribble = 0.3
    webhook_to(world.dist, receiver.url())
    began = time.monotonic()
    result = run_at(T0)
    elapsed = time.monotonic() - began
    assert attempts(the_webhook()) == [(False, TIMED_OUT)]
    assert result.retried == 1 and result.delivered == 4
    assert elapsed < 1 + 2.5  # the deadline, and room for a loaded machine


# --- a slow receiver holds up no one else --------------------------------------------


def shop(world, name: str) -> Location:
    return Location.objects.create(
        organization=world.org,
        name=name,
        sector="retail",
        timezone="Europe/Madrid",
        country="ES",
    )


def test_a_slow_receiver_delays_neither_the_others_nor_more_than_one_deadline(
    settings, world, in_use, receiver, another_receiver, run_at
):
    """The distributor's receiver dribbles; the organization's and the partner's answer
    at once. Three notices: the fast receivers get all six webhooks before the slow
    one's deadline has passed, the slow one is waited for once, not three times, and its
    other two deliveries are failed attempts retried with the backoff."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_TIMEOUT = 2
    for name in ("Shop 1", "Shop 2"):  # two more licenses with the same end date
        make_in_use(world, location=shop(world, name))
    receiver.dribble = 0.3  # the whole answer would take 12 s
    webhook_to(world.dist, receiver.url("/slow"))
    webhook_to(world.org, another_receiver.url("/org"))
    webhook_to(world.partner, another_receiver.url("/partner"))

    began = time.monotonic()
    result = run_at(T0)
    elapsed = time.monotonic() - began

    assert receiver.connections == 1  # the slow one: one request, then no more this pass
    assert len(another_receiver.heads) == 6
    assert max(another_receiver.arrived) < receiver.arrived[0] + 2  # before its deadline
    fast = Delivery.objects.filter(channel=Channel.WEBHOOK).exclude(recipient__endswith="/slow")
    assert {d.state for d in fast} == {DeliveryState.SENT}
    slow = Delivery.objects.filter(channel=Channel.WEBHOOK, recipient__endswith="/slow")
    details = sorted(detail for d in slow for _, detail in attempts(d))
    assert details == sorted([TIMED_OUT] + [worker.NOT_TRIED_AFTER_TIME_OUT] * 2)
    for delivery in slow:
        assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
        assert delivery.next_attempt_at == T0 + worker.backoff(1)
    assert result.delivered == 3 * 4 + 6 and result.retried == 3
    assert elapsed < 2 * 2 + 1.5  # one deadline, well under three (36 s before the fix)


def test_what_comes_due_while_a_claim_is_sent_is_decided_in_the_same_pass(
    settings, world, monkeypatch
):
    """A pass sends a backlog claim after claim; starts, notices and cut-offs that come
    due meanwhile do not wait for the next pass. Here the receiver takes two minutes
    (the test's clock moves when it is called) and a second license ends at midnight,
    a minute after the pass began: it is cut off by the same pass."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setattr(worker, "DELIVERIES_PER_CLAIM", 1)  # a backlog of several claims
    ending = dt.date(2027, 6, 30)
    other = make_in_use(world, start=dt.date(2026, 6, 30), location=shop(world, "Corner"))
    assert other.end_date == ending
    make_in_use(world, location=shop(world, "Kiosk"))  # ends a day later: notice 3 due
    began = local_midnight(ending) - dt.timedelta(minutes=1)
    with time_machine.travel(began, tick=False) as traveller:
        moved = []

        def two_minutes_per_request(*_):
            if not moved:
                moved.append(traveller.shift(dt.timedelta(minutes=2)))
            return True

        server = serve()
        server.verify_request = two_minutes_per_request
        try:
            webhook_to(world.org, server.receiver.url("/org"))
            result = worker.run_pass()
        finally:
            close(server)
    other.refresh_from_db()
    assert moved and result.cut_off == 1
    assert other.status == LicenseStatus.CONTRACT_FINALIZED


# --- a send never outlives its lease -------------------------------------------------


def test_a_webhook_send_gets_its_deadline_cut_to_the_lease():
    lease_until = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
    second = dt.timedelta(seconds=1)
    with time_machine.travel(lease_until - worker.LEASE, tick=False):
        assert worker.webhook_budget(lease_until, 10) == 10  # the whole deadline
        assert (
            worker.webhook_budget(lease_until, 3600)
            == (worker.LEASE - worker.LEASE_SAFETY).total_seconds()
        )  # a deadline longer than the lease is cut to it
    with time_machine.travel(lease_until - worker.SEND_MARGIN - second, tick=False):
        assert (
            worker.webhook_budget(lease_until, 3600)
            == (worker.SEND_MARGIN + second - worker.LEASE_SAFETY).total_seconds()
        )
    with time_machine.travel(lease_until - worker.SEND_MARGIN, tick=False):
        assert worker.webhook_budget(lease_until, 10) is None  # too late to start


def test_a_lane_too_slow_for_its_lease_gives_back_what_it_did_not_try(settings, world, in_use):
    """Two deliveries to one receiver; the first takes most of the lease (the test's
    clock moves when the receiver is called): the second does not start, and goes back
    untried (its attempt not counted) for the next claim."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    make_in_use(world, location=shop(world, "Shop 9"))  # a second notice 1 at T0
    with time_machine.travel(T0, tick=False) as traveller:
        calls = []

        def most_of_the_lease_per_request(*_):
            calls.append(traveller.shift(worker.LEASE - worker.SEND_MARGIN))
            return True

        server = serve()
        server.verify_request = most_of_the_lease_per_request
        try:
            webhook_to(world.dist, server.receiver.url())
            worker.decide_due(worker.PassResult(), set())
            result = worker.PassResult()
            worker.deliver_due(result)
        finally:
            close(server)
        assert len(calls) == 1
        hooks = Delivery.objects.filter(channel=Channel.WEBHOOK)
        sent, back = hooks.get(state=DeliveryState.SENT), hooks.get(state=DeliveryState.PENDING)
        assert attempts(sent) == [(True, "HTTP 204")]
        assert attempts(back) == [] and back.attempts == 0
        assert back.next_attempt_at <= worker.clock.now()
