"""A real FreeRADIUS for tests: Debian's ``freeradius`` with the repository's configuration
(deploy/freeradius/), and Debian's ``radclient`` to send it packets (docs/radius.md).

``FreeRadius`` runs the server on free UDP ports against a service URL with a token;
``radclient`` sends one packet and gives the answer's code and attributes (``None`` when
no answer came: the packet was dropped).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CONFIGURATION = REPOSITORY / "deploy" / "freeradius"
FREERADIUS = "/usr/sbin/freeradius"
RADCLIENT = "/usr/bin/radclient"
RLM_REST = "/usr/lib/freeradius/rlm_rest.so"
READY = "Ready to process requests"
MESSAGE_AUTHENTICATOR = "Message-Authenticator"


def missing() -> str | None:
    """Why FreeRADIUS cannot run here (the files `make test` installs), or None."""
    absent = [path for path in (FREERADIUS, RADCLIENT, RLM_REST) if not os.path.exists(path)]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} missing: `make test` installs Debian's freeradius, "
        f"freeradius-rest and freeradius-utils (or run `make {FREERADIUS}`)"
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def private_copy(directory: Path, clients_file: Path | None = None) -> Path:
    """The configuration copied to ``directory/raddb``, readable by its owner only, as
    `make radius` does: FreeRADIUS refuses a configuration others may write. A per-NAS
    clients file goes to its ``clients.d/``."""
    raddb = directory / "raddb"
    shutil.copytree(CONFIGURATION, raddb)
    if clients_file is not None:
        shutil.copyfile(clients_file, raddb / "clients.d" / "nas.conf")
    for path in [raddb, *raddb.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return raddb


def environment(
    *, auth_port: int, acct_port: int, secret: str, api_url: str, token: str
) -> dict[str, str]:
    """The variables the configuration reads (radiusd.conf lists them)."""
    return {
        **os.environ,
        "RADIUS_LISTEN": "127.0.0.1",
        "RADIUS_AUTH_PORT": str(auth_port),
        "RADIUS_ACCT_PORT": str(acct_port),
        "RADIUS_SECRET": secret,
        "API_URL": api_url,
        "RADIUS_API_TOKEN": token,
    }


def check(raddb: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``freeradius -C``: reads the whole configuration, loads the modules, and exits (0
    when it would start)."""
    return subprocess.run(
        [FREERADIUS, "-C", "-l", "stdout", "-d", str(raddb)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class FreeRadius:
    """FreeRADIUS in the foreground (threaded, as `make radius` runs it), its output in
    ``log``; ``start`` returns once it is ready to process requests."""

    def __init__(self, raddb: Path, *, secret: str, api_url: str, token: str) -> None:
        self.raddb = raddb
        self.secret = secret
        self.api_url = api_url
        self.token = token
        self.log = raddb.parent / "freeradius.log"
        self.process: subprocess.Popen | None = None
        self.auth_port = self.acct_port = 0

    def start(self, attempts: int = 3, timeout: float = 20.0) -> FreeRadius:
        """Start on free ports; again on others when one was taken in the meantime."""
        for _ in range(attempts):
            self.auth_port, self.acct_port = free_udp_port(), free_udp_port()
            env = environment(
                auth_port=self.auth_port,
                acct_port=self.acct_port,
                secret=self.secret,
                api_url=self.api_url,
                token=self.token,
            )
            with self.log.open("w") as log:
                self.process = subprocess.Popen(
                    [FREERADIUS, "-f", "-l", "stdout", "-d", str(self.raddb)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if READY in self.output():
                    return self
                time.sleep(0.02)
            self.stop()
            if "Failed binding" not in self.output():
                break
        raise RuntimeError(f"FreeRADIUS did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def port(self, kind: str) -> int:
        return {"auth": self.auth_port, "acct": self.acct_port, "status": self.auth_port}[kind]

    def send(self, attributes: dict, kind: str = "auth", **options):
        """``radclient`` to this server with its secret (``options`` as radclient's)."""
        options.setdefault("secret", self.secret)
        return radclient(self.port(kind), attributes, kind=kind, **options)


def _value(value) -> str:
    """An attribute value as radclient reads it: numbers and 0x octets bare, text quoted."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def radclient(
    port: int,
    attributes: dict,
    *,
    kind: str = "auth",
    secret: str,
    message_authenticator: bool = True,
    timeout: float = 2.0,
) -> tuple[str | None, dict[str, str | list[str]]]:
    """Send one packet with ``radclient -x`` (one try) to 127.0.0.1:``port``.

    ``kind`` is radclient's: auth, acct or status. ``Message-Authenticator = 0x00`` (signed
    on sending) is added unless ``message_authenticator`` is false. The answer: its code
    (``"Access-Accept"``, ``"Access-Reject"``, ``"Accounting-Response"``) or None when none
    came within ``timeout``, and its attributes as radclient prints them (text unquoted,
    integers as digits, octets as 0x hex: ``text`` decodes them); a repeated attribute
    gives a list.
    """
    lines = [f"{name} = {_value(value)}" for name, value in attributes.items()]
    if message_authenticator and MESSAGE_AUTHENTICATOR not in attributes:
        lines.append(f"{MESSAGE_AUTHENTICATOR} = 0x00")
    result = subprocess.run(
        [RADCLIENT, "-x", "-r", "1", "-t", str(timeout), f"127.0.0.1:{port}", kind, secret],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )
    code, received = None, {}
    for line in result.stdout.splitlines():
        if line.startswith("Received "):
            code = line.split()[1]
        elif code is not None and line.startswith("\t") and " = " in line:
            name, value = line.strip().split(" = ", 1)
            value = _parse(value)
            if name in received:
                previous = received[name]
                received[name] = (
                    [*previous, value]
                    if isinstance(previous, list)
                    else [
                        previous,
                        value,
                    ]
                )
            else:
                received[name] = value
    if code is None and "No reply from server" not in result.stdout + result.stderr:
        raise RuntimeError(f"radclient failed: {result.stderr or result.stdout}")
    return code, received


def status_from(source: str, port: int, secret: str, timeout: float = 1.0) -> int | None:
    """A Status-Server packet sent from the address ``source`` (any of 127.0.0.0/8 on
    Linux; radclient cannot choose its own): the answer's code (2, Access-Accept) or None
    when it was dropped. Built here: one Message-Authenticator attribute, RFC 5997."""
    identifier, authenticator = secrets.randbelow(256), secrets.token_bytes(16)
    header = bytes([12, identifier]) + (20 + 18).to_bytes(2, "big") + authenticator
    unsigned = header + bytes([80, 18]) + bytes(16)
    signature = hmac.new(secret.encode(), unsigned, hashlib.md5).digest()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((source, 0))
        sender.settimeout(timeout)
        sender.sendto(header + bytes([80, 18]) + signature, ("127.0.0.1", port))
        try:
            answer = sender.recv(4096)
        except TimeoutError:
            return None
    return answer[0] if answer[1] == identifier else None


def text(octets: str) -> str:
    """An octets attribute (``0x6d6f...``, e.g. Class) as the text it carries."""
    return bytes.fromhex(octets.removeprefix("0x")).decode()
