"""The Prometheus metrics (``GET /metrics``; docs/operations.md, "Probes and metrics").

Every metric is defined here, once, and counted where the thing happens: the apps import
the pre-bound counters below (this app sits just above ``lib``, so every app may). The
names all start with ``wlm_``; docs/operations.md lists them.

Multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` sets it for the
server's workers and the notifier), each process writes its values to files in that
folder and a scrape adds up every process's files, so every granian worker — and the
notifier beside them — counts. The variable must be set before ``prometheus_client`` is
imported, so it is read from the environment, never from the settings; the folder is
made if missing. Without it, the process's own registry is served (one process: tests,
``runserver``).

A few values are read from the database when scraped (``DatabaseFacts``): the notifier's
lag and heartbeats, whether the database answers. They are the same whichever node is
scraped.
"""

from __future__ import annotations

import os

# before prometheus_client chooses its value class (at import)
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

import hashlib  # noqa: E402
import hmac  # noqa: E402
import ipaddress  # noqa: E402
import logging  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from functools import lru_cache  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import DatabaseError, InterfaceError, OperationalError, connection  # noqa: E402
from prometheus_client import (  # noqa: E402
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.exposition import choose_encoder  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

from wlm.lib.database import drop_connection  # noqa: E402

log = logging.getLogger(__name__)
# no ``*_created`` series: multiprocess mode has none, and both modes answer alike
disable_created_metrics()

# --- Django's requests (wlm.operations.middleware) ------------------------------------
REQUESTS = Counter(
    "wlm_http_requests",
    "Requests Django answered, by route (the URL pattern's name), method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "wlm_http_request_duration_seconds",
    "Time Django took to answer, by route and method.",
    ["route", "method"],
)

# --- the lean path (wlm.dataplane.front, wlm.dataplane.cache) -------------------------
LEAN_ANSWERS = Counter(
    "wlm_lean_answers",
    "Data-plane requests the lean path answered itself, or handed to Django.",
    ["endpoint", "outcome"],
)
ENTITLEMENT_ANSWERED = LEAN_ANSWERS.labels("entitlement", "answered")
ENTITLEMENT_TO_DJANGO = LEAN_ANSWERS.labels("entitlement", "django")
AUTHORIZE_ANSWERED = LEAN_ANSWERS.labels("radius_authorize", "answered")
AUTHORIZE_TO_DJANGO = LEAN_ANSWERS.labels("radius_authorize", "django")
ACCOUNTING_ANSWERED = LEAN_ANSWERS.labels("radius_accounting", "answered")
ACCOUNTING_TO_DJANGO = LEAN_ANSWERS.labels("radius_accounting", "django")
CACHE_LOOKUPS = Counter(
    "wlm_lean_cache_lookups",
    "The lean path's per-process cache: a location's facts or an access point's location.",
    ["cache", "result"],
)
FACTS_HIT = CACHE_LOOKUPS.labels("facts", "hit")
FACTS_MISS = CACHE_LOOKUPS.labels("facts", "miss")
ACCESS_POINT_HIT = CACHE_LOOKUPS.labels("access_points", "hit")
ACCESS_POINT_MISS = CACHE_LOOKUPS.labels("access_points", "miss")
PROBE_ANSWERS = Counter(
    "wlm_probe_answers",
    "Answers of /healthz, /readyz and /metrics, by status.",
    ["probe", "status"],
)

# --- the intake (wlm.connections) ------------------------------------------------------
INTAKE_EVENTS = Counter(
    "wlm_intake_events",
    "Device-connection events: accepted (duplicates included), duplicate, rejected; "
    "source api (POST /connections/) or radius (Accounting Starts).",
    ["source", "outcome"],
)
INTAKE_STARTS = Counter(
    "wlm_intake_starts",
    "Licenses started by the intake (the Nth distinct device).",
    ["source"],
)

# --- RADIUS (wlm.dataplane.radius) -----------------------------------------------------
RADIUS_AUTHORIZE = Counter(
    "wlm_radius_authorize",
    "Access-Request answers: accept (reason ok) or reject with its reason.",
    ["result", "reason"],
)

# --- the notifier (wlm.notifications) --------------------------------------------------
DELIVERIES = Counter(
    "wlm_deliveries",
    "Delivery attempts' outcomes by channel: sent, retried (failed, tried again later), "
    "failed (the last attempt failed); the inbox's are sent when written.",
    ["channel", "outcome"],
)
NOTIFIER_PASSES = Counter(
    "wlm_notifier_passes",
    "The notifier's passes, ok or failed.",
    ["outcome"],
)

# --- the database ------------------------------------------------------------------------
DATABASE_ERRORS = Counter(
    "wlm_database_errors",
    "Database connection errors (OperationalError, InterfaceError) by where they surfaced.",
    ["where", "kind"],
)


def database_error(error: BaseException, where: str) -> None:
    """Count ``error`` if it is a connection error (the database away, a connection
    dropped): the kinds a retry or a new connection may cure, not a bug's SQL."""
    if isinstance(error, OperationalError):
        DATABASE_ERRORS.labels(where, "operational").inc()
    elif isinstance(error, InterfaceError):
        DATABASE_ERRORS.labels(where, "interface").inc()


def checked_connection() -> None:
    """Before the lean path's own reads (the probes, a scrape), as Django does at each
    request: a persistent connection that broke meanwhile (the database restarted) is
    checked and replaced rather than reported. A test's transaction is left alone."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def failed_connection(error: DatabaseError, where: str) -> None:
    """After a database error on the lean path: counted, logged (never answered: it may
    name hosts and users) and the connection closed, so that the next read connects
    again."""
    database_error(error, where)
    log.warning("%s: the database did not answer: %s", where, error)
    drop_connection()


def count_intake(source: str, accepted: int, duplicates: int, rejected: int, started: int):
    """One intake batch's numbers (after its transaction)."""
    for outcome, number in (
        ("accepted", accepted),
        ("duplicate", duplicates),
        ("rejected", rejected),
    ):
        if number:
            INTAKE_EVENTS.labels(source, outcome).inc(number)
    if started:
        INTAKE_STARTS.labels(source).inc(started)


# --- read at scrape time --------------------------------------------------------------------
# Each provider returns {labels: value}; the apps that own the rows hand them over when
# they load (the notifier's lag comes from wlm.notifications: NotificationsConfig.ready).
_providers: dict[str, tuple[str, list[str], Callable[[], dict[tuple, float]]]] = {}


def provide(name: str, documentation: str, labels: list[str], read: Callable[[], dict]) -> None:
    """A gauge read from the database at each scrape (``read()`` → {label values: value})."""
    _providers[name] = (documentation, labels, read)


class DatabaseFacts:
    """The gauges read from the database when scraped; ``wlm_database_up`` 0 (and none of
    the others) when it does not answer."""

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily("wlm_database_up", "1 if the database answered the scrape.")
        for name, (documentation, labels, _read) in _providers.items():
            yield GaugeMetricFamily(name, documentation, labels=labels)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        families = []
        try:
            checked_connection()
            for name, (documentation, labels, read) in _providers.items():
                family = GaugeMetricFamily(name, documentation, labels=labels)
                for label_values, value in read().items():
                    family.add_metric(list(label_values), value)
                families.append(family)
        except DatabaseError as error:
            failed_connection(error, "metrics")
            up = 0
            families = []
        else:
            up = 1
        yield GaugeMetricFamily("wlm_database_up", "1 if the database answered the scrape.", up)
        yield from families


DATABASE_FACTS = DatabaseFacts()
if not MULTIPROC_DIR:
    REGISTRY.register(DATABASE_FACTS)


def exposition(accept: str = "") -> tuple[bytes, str]:
    """(the text a scrape gets, its content type): every process's metrics (multiprocess
    mode) or this process's, then the database's. The Prometheus text format, or
    OpenMetrics when the ``Accept`` header asks for it (as prometheus_client's own
    server answers)."""
    encode, content_type = choose_encoder(accept)
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
        registry.register(DATABASE_FACTS)
        return encode(registry), content_type
    return encode(REGISTRY), content_type


# --- who may scrape ---------------------------------------------------------------------------
TOKEN_SCHEMES = {"bearer", "token"}
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@lru_cache(maxsize=8)
def _networks(allow: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allow)


def _address_allowed(environ) -> bool:
    """The peer is in ``METRICS_ALLOW`` and the request was not relayed by a proxy (a
    proxy on the same machine would make every client 127.0.0.1)."""
    if any(environ.get(name) for name in FORWARDED):
        return False
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOW)))


def refusal(environ) -> int | None:
    """None when the scrape is allowed; else 401 (a token is expected: none or a wrong
    one) or 403 (no token is configured and the address is not allowed).

    A token (``Authorization: Bearer <METRICS_TOKEN>``) is compared by its SHA-256 in
    constant time; without one, the peer's address must be in ``METRICS_ALLOW``."""
    digest = settings.METRICS_TOKEN_SHA256
    scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if digest and scheme:  # a credential given is checked, wherever it comes from
        given = hashlib.sha256(key.strip().encode()).hexdigest()
        ok = scheme.lower() in TOKEN_SCHEMES and hmac.compare_digest(given, digest)
        return None if ok else 401
    if _address_allowed(environ):
        return None
    return 401 if digest else 403
