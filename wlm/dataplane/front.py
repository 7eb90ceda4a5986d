"""The data plane's lean path: a WSGI front that answers the entitlement check and
FreeRADIUS's authorization question before Django and hands every other request to
Django (docs/dataplane.md, docs/radius.md).

``GET /api/v1/locations/{id}/entitlement/`` from the gateway or staff (the callers who
see every location) is answered from the process's ``Entitlements`` with the same rule,
the same JSON and the same headers as the Django view. Anything else — another caller,
a cookie, a query string, another ``Accept`` or ``Accept-Language``, an unknown
location, a host Django would refuse, a database error — goes to Django unchanged, so
the lean path only ever gives the answers the full path gives.

But the database away (docs/dataplane.md, "When the database is away"): then the front
answers what the process holds — the facts, the access points' locations and the tokens
it has seen, for ``DATAPLANE_OUTAGE_GRACE`` seconds — with the same bodies, marked
``WLM-Served-From: cache``, and what it does not hold with Django's ``503`` problem and
``Retry-After``, without asking the database more than once a second.

The operators' probes and metrics (``GET /healthz``, ``/readyz``, ``/metrics``:
wlm.operations.endpoints) are answered here too, before Django's middleware; the answers
given and handed on are counted (``wlm_lean_answers_total``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
import time
import uuid
from collections.abc import Callable

import orjson
from csp.utils import build_policy
from django.conf import settings
from django.db import DatabaseError, connection
from django.http.request import split_domain_port, validate_host
from django.utils import translation
from rest_framework.renderers import JSONRenderer

from wlm.connections import accounting
from wlm.dataplane import radius
from wlm.dataplane.api import packet_of
from wlm.dataplane.cache import Entitlements, Outage, Unavailable
from wlm.lib import clock, problems
from wlm.lib.database import AWAY, RETRY_AFTER
from wlm.lib.headers import NO_STORE
from wlm.operations import metrics
from wlm.operations.endpoints import ENDPOINTS as OPERATIONS
from wlm.tenancy import tokens
from wlm.tenancy.models import TokenScope
from wlm.tenancy.scoping import actor_of

ENTITLEMENT_PATH = re.compile(r"/api/v1/locations/([0-9a-fA-F-]{36})/entitlement/")
RADIUS_AUTHORIZE_PATH = "/api/v1/radius/authorize/"
RADIUS_ACCOUNTING_PATH = "/api/v1/radius/accounting/"
MAX_RADIUS_BODY = 4096  # three attributes of at most 253 octets, JSON-escaped
ACCEPTED = ("", "*/*", "application/json")
TOKEN_SECONDS = 1.0  # a revoked token or a changed role is seen within this
# on an answer given from memory while the database is away
SERVED_FROM_CACHE = ("WLM-Served-From", "cache")


GATEWAY, STAFF = "gateway", "staff"


class Tokens:
    """Whether a token may act for an active gateway or staff user, for one second.

    The token is found as the API's authentication finds it (``wlm.tenancy.tokens.find``:
    the hashed row); an unknown, revoked or expired token, or an inactive user, is
    nobody. A revocation or a changed role is seen within ``seconds`` on each process;
    an expiry at once (the moment is kept with the answer). Unsafe requests (RADIUS) need
    a ``write`` token, as in Django. While the database is away (``outage``), what was
    known of a token stays for the grace after it was last looked up; an unknown token
    is ``Unavailable``."""

    def __init__(
        self,
        seconds: float = TOKEN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        outage: Outage | None = None,
    ) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self.outage = Outage(grace=settings.DATAPLANE_OUTAGE_GRACE) if outage is None else outage
        self._known: dict[str, tuple[str | None, int | None, bool, dt.datetime | None, float]]
        self._known = {}
        self._lock = threading.Lock()

    def identify(self, key: str, *, write: bool = False) -> tuple[str | None, int | None]:
        """(GATEWAY or STAFF, the user's id) for a usable token of an active user of that
        role (a ``write`` one when ``write``), else (None, None)."""
        now = self.monotonic()
        known = self._known.get(key)
        if known is None or known[4] <= now:
            known = self._renew(key, known, now)
        kind, user_id, writes, expires = known[:4]
        if kind is None or (write and not writes):
            return None, None
        if expires is not None and expires <= clock.now():
            return None, None
        return kind, user_id

    def _renew(self, key: str, known: tuple | None, now: float) -> tuple:
        """The token looked up again; while the database is away, what was known of it
        within the grace (``Unavailable`` past it, or for a token not seen)."""
        outage = self.outage
        if outage.may_try(now):
            try:
                found = self._look_up(key)
            except AWAY as error:
                outage.failed(now, error)
            else:
                outage.reached(now)
                entry = (*found, now + self.seconds)
                with self._lock:
                    if len(self._known) > 10_000:
                        self._known.clear()
                    self._known[key] = entry
                return entry
        if known is not None and now - (known[4] - self.seconds) <= outage.grace:
            return known
        raise Unavailable

    def _look_up(self, key: str) -> tuple[str | None, int | None, bool, dt.datetime | None]:
        nobody = (None, None, False, None)
        token = tokens.find(key)
        if token is None or not token.user.is_active:
            return nobody
        moment = clock.now()
        try:
            tokens.check(token, moment)
        except tokens.Refused as refused:
            tokens.note_refused(token, refused.reason)
            return nobody
        actor = actor_of(token.user)
        kind = GATEWAY if actor.is_gateway else STAFF if actor.is_staff else None
        if kind is None:
            return nobody
        tokens.touch(token, moment)
        return kind, token.user_id, token.scope == TokenScope.WRITE, token.expires

    def sees_every_location(self, key: str) -> bool:
        return self.identify(key)[0] is not None


def _headers(secure: bool, allow: str) -> list[tuple[str, str]]:
    """The headers Django's middleware gives the view's answer, but Content-Length (a
    test compares them)."""
    headers = [
        ("Content-Type", "application/json"),
        ("Vary", "Accept, Accept-Language"),
        ("Allow", allow),
        ("X-Frame-Options", settings.X_FRAME_OPTIONS),
        ("Content-Language", settings.LANGUAGE_CODE),
    ]
    if settings.SECURE_HSTS_SECONDS and secure:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append(("Referrer-Policy", settings.SECURE_REFERRER_POLICY))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("Cache-Control", NO_STORE))
    policy = build_policy()  # django-csp's middleware builds the same from the settings
    if policy:
        headers.append(("Content-Security-Policy", policy))
    return headers


class DataPlaneFront:
    def __init__(
        self,
        django_app,
        entitlements: Entitlements | None = None,
        buffer: accounting.Buffer | None = None,
    ) -> None:
        self.django = django_app
        self.entitlements = Entitlements() if entitlements is None else entitlements
        self.accounting = accounting.Buffer() if buffer is None else buffer
        self.outage = self.entitlements.outage  # one view of the database for both caches
        self.tokens = Tokens(monotonic=self.entitlements.monotonic, outage=self.outage)
        self._hosts: dict[str, bool] = {}
        self._bodies: dict[tuple, bytes] = {}
        self._render = JSONRenderer().render
        from wlm.licenses.serializers import EntitlementSerializer  # the view's serializer

        self._serializer = EntitlementSerializer()  # its fields are built once
        # read once: the settings do not change while the process serves
        self._headers = {secure: _headers(secure, "GET, HEAD, OPTIONS") for secure in (0, 1)}
        self._radius_headers = {secure: _headers(secure, "POST, OPTIONS") for secure in (0, 1)}
        self._no_content_headers = {  # a 204 has no body, so no Content-Type
            secure: [h for h in headers if h[0] != "Content-Type"]
            for secure, headers in self._radius_headers.items()
        }
        self._proxy_header = settings.SECURE_PROXY_SSL_HEADER or (None, None)
        self._ssl_redirect = settings.SECURE_SSL_REDIRECT
        with translation.override(settings.LANGUAGE_CODE):  # Django's 503, as it answers
            self._unavailable_body = problems.unavailable().content

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        try:
            if method == "GET":
                path = environ.get("PATH_INFO", "")
                match = ENTITLEMENT_PATH.fullmatch(path)
                if match is not None:
                    answer = self._entitlement(environ, match.group(1))
                    if answer is not None:
                        metrics.ENTITLEMENT_ANSWERED.inc()
                        headers = self._headers
                        return self._send(start_response, "200 OK", headers, environ, answer)
                    metrics.ENTITLEMENT_TO_DJANGO.inc()
                elif path in OPERATIONS:  # the probes and /metrics (wlm.operations)
                    return OPERATIONS[path](environ, start_response)
            elif method == "POST" and environ.get("PATH_INFO") == RADIUS_AUTHORIZE_PATH:
                answer = self._radius_authorize(environ)
                if answer is not None:
                    metrics.AUTHORIZE_ANSWERED.inc()
                    status, body = answer
                    headers = self._radius_headers
                    return self._send(start_response, status, headers, environ, body)
                metrics.AUTHORIZE_TO_DJANGO.inc()
            elif method == "POST" and environ.get("PATH_INFO") == RADIUS_ACCOUNTING_PATH:
                if self._radius_accounting(environ):
                    metrics.ACCOUNTING_ANSWERED.inc()
                    headers = self._no_content_headers
                    return self._send(start_response, "204 No Content", headers, environ, b"")
                metrics.ACCOUNTING_TO_DJANGO.inc()
        except Unavailable:  # the database is away and this process does not know
            return self._unavailable(start_response, method, environ)
        return self.django(environ, start_response)

    def _send(self, start_response, status: str, headers: dict, environ, body: bytes):
        headers = [*headers[self._secure(environ)], ("Content-Length", str(len(body)))]
        if self.outage.away:  # answered from memory: the database could not confirm it
            headers.append(SERVED_FROM_CACHE)
        start_response(status, headers)
        return [body]

    def _unavailable(self, start_response, method: str, environ):
        """Django's 503 problem (``wlm.lib.problems.unavailable``), with the headers of the
        lean path's answer at that URL."""
        base = self._headers if method == "GET" else self._radius_headers
        headers = [
            (name, problems.PROBLEM_CONTENT_TYPE if name == "Content-Type" else value)
            for name, value in base[self._secure(environ)]
        ]
        body = self._unavailable_body
        headers += [("Retry-After", str(RETRY_AFTER)), ("Content-Length", str(len(body)))]
        start_response("503 Service Unavailable", headers)
        return [body]

    def _declines(self, environ) -> bool:
        """What only Django answers as the view would: a query string, a cookie (a
        session, CSRF), another language or format, a host it refuses, an insecure
        request it would redirect."""
        return bool(
            environ.get("QUERY_STRING")
            or environ.get("HTTP_COOKIE")
            or environ.get("HTTP_ACCEPT_LANGUAGE")
            or environ.get("HTTP_ACCEPT", "") not in ACCEPTED
            or not self._host_allowed(environ)
            or (self._ssl_redirect and not self._secure(environ))
        )

    def _token(self, environ) -> str | None:
        scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "token" or not key or " " in key:
            return None
        return key

    def _radius_request(self, environ, read):
        """(the gateway user's id, ``read(the JSON body)``) of a request from FreeRADIUS
        the lean path answers, or None when Django must (the body is put back for it)."""
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip()
        if self._declines(environ) or content_type != "application/json":
            return None
        key = self._token(environ)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if key is None or not 0 < length <= MAX_RADIUS_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)  # Django reads it again if it answers
        try:
            data = read(orjson.loads(body))
        except (orjson.JSONDecodeError, ValueError):
            return None  # Django's parser and serializer say what is wrong
        kind, user_id = self.tokens.identify(key, write=True)
        return None if kind != GATEWAY else (user_id, data)

    def _radius_accounting(self, environ) -> bool:
        """An Accounting-Request, buffered (wlm.connections.accounting); False when
        Django must answer."""
        try:
            found = self._radius_request(environ, radius.Accounting.from_json)
            if found is None:
                return False
            gateway_id, question = found
            counted = packet_of(question, self.entitlements.location_of)
        except DatabaseError:
            connection.close()
            return False
        if counted is not None:
            self.accounting.add(gateway_id, counted)
        return True

    def _radius_authorize(self, environ) -> tuple[str, bytes] | None:
        """FreeRADIUS's question about an Access-Request (wlm.dataplane.radius), from a
        gateway: (status, body), or None when Django must answer."""
        try:
            found = self._radius_request(environ, radius.Question.from_json)
            if found is None:
                return None
            accepted, reply = radius.authorize(
                found[1],
                clock.now(),
                location_of=self.entitlements.location_of,
                facts_of=self.entitlements.facts,
            )
        except DatabaseError:
            connection.close()  # Django's path opens a new one and reports the error
            return None
        return ("200 OK" if accepted else "401 Unauthorized"), self._render(reply)

    def _entitlement(self, environ, location: str) -> bytes | None:
        """The answer's body, or None when Django must answer."""
        if self._declines(environ):
            return None
        key = self._token(environ)
        if key is None:
            return None
        try:
            location_id = uuid.UUID(location)
        except ValueError:
            return None
        try:
            if not self.tokens.sees_every_location(key):
                return None
            facts = self.entitlements.facts(location_id)
        except DatabaseError:
            connection.close()  # Django's path opens a new one and reports the error
            return None
        if facts is None:
            return None
        # the body depends on the moment only through the reason: rendered once for each
        now = clock.now()
        answer = (facts, facts.reason_at(now))
        body = self._bodies.get(answer)
        if body is None:
            body = self._render(self._serializer.to_representation(facts.at(now)))
            if len(self._bodies) >= 2 * self.entitlements.max_entries:
                self._bodies.clear()
            self._bodies[answer] = body
        return body

    def _secure(self, environ) -> bool:
        if environ.get("wsgi.url_scheme") == "https":
            return True
        header, value = self._proxy_header
        return bool(header) and environ.get(header, "").split(",")[0].strip() == value

    def _host_allowed(self, environ) -> bool:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        allowed = self._hosts.get(host)
        if allowed is None:
            domain, _port = split_domain_port(host)
            hosts = settings.ALLOWED_HOSTS
            if settings.DEBUG and not hosts:
                hosts = [".localhost", "127.0.0.1", "[::1]"]
            allowed = bool(domain) and validate_host(domain, hosts)
            if len(self._hosts) < 1_000:
                self._hosts[host] = allowed
        return allowed
