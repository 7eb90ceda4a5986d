"""Django's requests in the metrics: counted by route, method and status, timed by route
and method (``wlm_http_requests_total``, ``wlm_http_request_duration_seconds``).

The route is the URL pattern's name (``api:license-detail``, ``licenses:list``), never
the path: a label per license id would grow without bound. What no pattern matched
(static files, 404s, redirects made by middleware) is ``unrouted``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from wlm.operations import metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNROUTED = "unrouted"


class RequestMetricsMiddleware:
    """First of the middleware, so that it times and counts every answer, those the
    others make (redirects, CSRF refusals) included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = request.resolver_match
        route = (match.view_name or match.route) if match is not None else UNROUTED
        method = request.method if request.method in METHODS else "other"
        metrics.REQUESTS.labels(route, method, str(response.status_code)).inc()
        metrics.REQUEST_SECONDS.labels(route, method).observe(seconds)
        return response


def count_database_error(sender, request=None, **kwargs) -> None:
    """``got_request_exception``: a request that failed on a database connection error
    (sent while Django handles the exception, so it is the one being handled)."""
    error = sys.exc_info()[1]
    if error is not None:
        metrics.database_error(error, "request")


def count_answered_away(sender, error: BaseException, **kwargs) -> None:
    """``wlm.lib.database.answered_away``: an API view's 503 for the database away."""
    metrics.database_error(error, "request")
