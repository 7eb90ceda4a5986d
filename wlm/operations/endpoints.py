"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics``, as plain WSGI answers: the
data plane's lean path (wlm.dataplane.front) serves them before Django's middleware, so
that a probe costs no session, no CSRF, no URL resolution — and is answered whatever the
``Host`` (orchestrators probe a pod by its address) and over plain HTTP (a load balancer
probes behind TLS).

Probes are public and say nothing secret: which check failed, never the database's
error (it is logged). ``/metrics`` is for ``METRICS_ALLOW``'s addresses or the bearer of
``METRICS_TOKEN`` (wlm.operations.metrics.refusal).
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
from django.utils.translation import gettext

from wlm.lib.headers import NO_STORE
from wlm.lib.problems import PROBLEM_CONTENT_TYPE, problem_body
from wlm.operations import metrics, probes

JSON = "application/json"
HEALTHY = orjson.dumps({"status": "ok"})


def _answer(start_response, status: int, body: bytes, content_type: str, *extra):
    headers = [
        ("Content-Type", content_type),
        ("Cache-Control", NO_STORE),
        ("X-Content-Type-Options", "nosniff"),
        *extra,
        ("Content-Length", str(len(body))),
    ]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def healthz(environ, start_response):
    """The process answers: nothing else is asked."""
    metrics.PROBE_ANSWERS.labels("healthz", "200").inc()
    return _answer(start_response, 200, HEALTHY, JSON)


def readyz(environ, start_response):
    """200 and each check's outcome, or 503 problem+json saying what is wrong."""
    state = probes.readiness()
    if state.ready:
        status, content_type = 200, JSON
        body = {"status": "ready", **state.facts()}
    else:
        status, content_type = 503, PROBLEM_CONTENT_TYPE
        detail = " ".join(state.problems)
        body = problem_body(503, detail, code="not_ready", extensions=state.facts())
    metrics.PROBE_ANSWERS.labels("readyz", str(status)).inc()
    return _answer(start_response, status, orjson.dumps(body), content_type)


def metrics_text(environ, start_response):
    """The Prometheus text, or 401/403 problem+json for a scraper not allowed."""
    refused = metrics.refusal(environ)
    if refused is not None:
        metrics.PROBE_ANSWERS.labels("metrics", str(refused)).inc()
        if refused == 401:
            detail = gettext("Send the metrics token: Authorization: Bearer <token>.")
            extra = [("WWW-Authenticate", 'Bearer realm="metrics"')]
        else:
            detail = gettext("The metrics are served to the addresses of METRICS_ALLOW only.")
            extra = []
        body = orjson.dumps(problem_body(refused, detail, code="metrics_refused"))
        return _answer(start_response, refused, body, PROBLEM_CONTENT_TYPE, *extra)
    metrics.PROBE_ANSWERS.labels("metrics", "200").inc()
    body, content_type = metrics.exposition(environ.get("HTTP_ACCEPT", ""))
    return _answer(start_response, 200, body, content_type)


# the lean path's early branch: an exact path of a GET
ENDPOINTS = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_text}
