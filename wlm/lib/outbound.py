"""HTTP requests to addresses that tenants choose (webhooks): public destinations only.

A tenant's URL must not turn the server into a proxy into its own network (SSRF): the
loopback, private and link-local ranges (cloud metadata at 169.254.169.254 among them),
``0.0.0.0``, multicast and reserved addresses are refused, also when written as an
IPv4-mapped, 6to4 or NAT64 IPv6 address. The URL is checked when it is saved
(``validate_public_http_url``) and again when a request is made (``post``): the name
is resolved, every address checked, and the connection made to a checked address —
never to a second lookup, which a DNS server could answer differently (rebinding).

``allow_private`` (``WEBHOOK_ALLOW_PRIVATE``) admits loopback and private ranges, for
development and tests; link-local, unspecified, multicast and reserved addresses stay
refused.

``post`` has one deadline for the whole request (connection, TLS, sending, the status
line and headers): a receiver that dribbles its answer byte by byte cannot hold the
caller longer. The answer's body is not read.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from base64 import b64encode
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# admitted only with allow_private: loopback, RFC 1918, carrier-grade NAT, unique local
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: an IPv4 address inside

LOOKUP_TIMEOUT = 5.0  # seconds for the lookup of a URL being saved
MAX_ANSWER_HEAD = 64 * 1024  # bytes of status line and headers read at most

SCHEME = "scheme"
HOST = "host"
NOT_FOUND = "not found"
PRIVATE = "private"


class Refused(Exception):
    """A URL or address that is not a destination; ``reason`` is one of ``SCHEME``,
    ``HOST``, ``NOT_FOUND``, ``PRIVATE``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotHTTP(Exception):
    """The server answered something that is not an HTTP response."""


@dataclass(frozen=True)
class Destination:
    scheme: str  # http or https
    host: str  # a name in ASCII (IDNA) or an IP address, without brackets
    port: int
    target: str  # path and query
    authorization: str | None  # Basic credentials from the URL's user:password@, if any


def parse(url: str) -> Destination:
    """The parts of an http(s) URL; ``Refused`` for another scheme or no usable host."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        hostname = parts.hostname
        port = parts.port
    except ValueError:  # a port out of range, brackets that do not close
        raise Refused(HOST) from None
    if scheme not in ("http", "https"):
        raise Refused(SCHEME)
    if not hostname:
        raise Refused(HOST)
    try:
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused(HOST) from None
    authorization = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        authorization = "Basic " + b64encode(f"{user}:{password}".encode()).decode("ascii")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        scheme, host, port or (443 if scheme == "https" else 80), target, authorization
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, 6to4, NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_allowed(address: str | IPAddress, *, allow_private: bool = False) -> bool:
    """True for a public unicast address (and, with ``allow_private``, loopback and
    private ones). ``ipaddress.is_global`` alone is not enough before Python 3.13: it
    calls multicast and some reserved ranges global."""
    address = ipaddress.ip_address(address)
    if address.version == 6:
        address = _embedded_ipv4(address) or address
    if allow_private and any(address in network for network in _PRIVATE_NETWORKS):
        return True
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_link_local
        or address.is_unspecified
        or address.is_loopback
        or address.is_private
        or getattr(address, "is_site_local", False)
    )


def _lookup(host: str, port: int, timeout: float | None) -> list[tuple]:
    """``getaddrinfo`` within ``timeout``: a slow DNS server (the tenant may run it) must
    not hold the caller. An IP address is read as such, without a lookup."""

    def getaddrinfo(flags: int = 0) -> list[tuple]:
        return socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags
        )

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return getaddrinfo(socket.AI_NUMERICHOST)
    if timeout is None:
        return getaddrinfo()
    outcome: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["infos"] = getaddrinfo()
        except BaseException as error:  # handed to the caller
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=lookup, name="outbound-lookup", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError("timed out")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]


def resolve(
    host: str, port: int, *, allow_private: bool = False, timeout: float | None = None
) -> list[tuple]:
    """The socket addresses of ``host`` (``(family, sockaddr)``), every one of them
    allowed; ``Refused(NOT_FOUND)`` when the name does not resolve, ``Refused(PRIVATE)``
    when any address is not allowed (a name that also points inside is refused), and
    ``TimeoutError`` when the lookup takes longer than ``timeout`` seconds."""
    try:
        infos = _lookup(host, port, timeout)
    except (socket.gaierror, UnicodeError):
        raise Refused(NOT_FOUND) from None
    addresses = list(dict.fromkeys((family, sockaddr) for family, _t, _p, _c, sockaddr in infos))
    if not addresses:
        raise Refused(NOT_FOUND)
    for _family, sockaddr in addresses:
        if not is_allowed(sockaddr[0].split("%", 1)[0], allow_private=allow_private):
            raise Refused(PRIVATE)
    return addresses


def check_url(url: str, *, allow_private: bool = False) -> Destination:
    """``parse`` and ``resolve``: raises ``Refused`` unless the URL is http(s) to a
    destination that is allowed now. Makes no connection."""
    destination = parse(url)
    try:
        resolve(
            destination.host, destination.port, allow_private=allow_private, timeout=LOOKUP_TIMEOUT
        )
    except TimeoutError:
        raise Refused(NOT_FOUND) from None
    return destination


_MESSAGES = {
    SCHEME: _("Enter an http:// or https:// URL."),
    HOST: _("Enter a URL with a valid host name."),
    NOT_FOUND: _("This host name does not resolve to an address."),
    PRIVATE: _(
        "This URL points to a private, loopback or otherwise non-public address: "
        "webhooks are sent only to public internet addresses."
    ),
}


def validate_public_http_url(value: str) -> None:
    """Django validator of a webhook URL: http(s), a host that resolves now, to public
    addresses only (loopback and private too with ``WEBHOOK_ALLOW_PRIVATE``)."""
    try:
        check_url(value, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    except Refused as refused:
        raise ValidationError(_MESSAGES[refused.reason], code="webhook_destination") from None


# --- the request ---------------------------------------------------------------------


class _Deadline:
    """One wall-clock budget (``time.monotonic``) for a whole request."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; ``TimeoutError`` when none is."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def arm(self, sock: socket.socket) -> None:
        """The socket's next blocking call may take at most the time left."""
        sock.settimeout(self.left())


class _DeadlineReader(io.RawIOBase):
    """The answer's bytes, each read bounded by the time left (a socket timeout alone
    bounds each read, not their sum), and at most ``MAX_ANSWER_HEAD`` of them."""

    def __init__(self, sock: socket.socket, deadline: _Deadline):
        super().__init__()
        self._sock, self._deadline, self._left = sock, deadline, MAX_ANSWER_HEAD

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            raise NotHTTP  # no status line and headers are that long
        self._deadline.arm(self._sock)
        read = self._sock.recv_into(buffer, min(len(buffer), self._left))
        self._left -= read
        return read


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to already checked addresses: the URL's host is used for the
    ``Host`` header (and TLS), never looked up again."""

    def __init__(self, destination: Destination, addresses: list[tuple], deadline: _Deadline):
        super().__init__(destination.host, destination.port)
        self._addresses, self._deadline = addresses, deadline

    def _open_socket(self) -> socket.socket:
        error: OSError | None = None
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                self._deadline.arm(sock)
                sock.connect(sockaddr)
                return sock
            except OSError as failed:
                sock.close()
                error = failed
                if isinstance(failed, TimeoutError):
                    break  # the deadline is for all addresses together
        raise error or OSError("no address")

    def connect(self) -> None:
        self.sock = self._open_socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def response(self) -> http.client.HTTPResponse:
        """The status line and headers, read within the deadline; the body is left."""
        answer = self.response_class(self.sock, method=self._method)
        answer.fp.close()  # its own reader of the socket, without the deadline
        answer.fp = io.BufferedReader(_DeadlineReader(self.sock, self._deadline))
        answer.begin()
        return answer


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self) -> None:
        sock = self._open_socket()
        try:
            self._deadline.arm(sock)  # the whole handshake, not each of its reads
            context = ssl.create_default_context()  # certificate and host name checked
            self.sock = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool = False,
) -> int:
    """POST ``body`` to ``url`` and return the answer's status code (redirects are not
    followed). The whole request takes at most ``timeout`` seconds.

    Raises ``Refused`` (the URL or its addresses are not allowed: no connection is
    made), ``TimeoutError``, another ``OSError`` (connection refused or reset, TLS
    failures), or ``NotHTTP``."""
    deadline = _Deadline(timeout)
    destination = parse(url)
    addresses = resolve(
        destination.host, destination.port, allow_private=allow_private, timeout=deadline.left()
    )
    kind = _PinnedTLSConnection if destination.scheme == "https" else _PinnedConnection
    connection = kind(destination, addresses, deadline)
    headers = {**headers, "Connection": "close"}
    if destination.authorization:
        headers["Authorization"] = destination.authorization
    try:
        connection.connect()
        deadline.arm(connection.sock)  # sendall: the timeout bounds the whole send
        connection.request("POST", destination.target, body=body, headers=headers)
        answer = connection.response()
        answer.close()  # the body is not read
        return answer.status
    except http.client.RemoteDisconnected:
        raise ConnectionResetError("closed without an answer") from None
    except http.client.HTTPException:
        raise NotHTTP from None
    finally:
        connection.close()
