"""Headers of the answers Django makes: the Content-Security-Policy and the cache rule.

Every page and every API answer carries license keys, tokens or a tenant's data, so the
cache rule is the simplest one that cannot miss a view: ``no-store`` on all of them.
Static files never reach these middlewares (WhiteNoise answers them first, with their
long cache headers). The policy itself is ``CONTENT_SECURITY_POLICY`` in the settings.
"""

from __future__ import annotations

from collections.abc import Callable

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control
from rest_framework.renderers import BrowsableAPIRenderer

# Added to the policy of the pages whose third-party code sets inline styles (Redoc's,
# DRF's browsable API): scripts stay as strict as everywhere else.
INLINE_STYLES = {"style-src": [UNSAFE_INLINE]}
# Redoc also runs its search in a worker made from a blob of its own bundle.
REDOC_POLICY = {**INLINE_STYLES, "worker-src": [SELF, "blob:"]}


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware; DRF's browsable API (its templates set inline styles, and
    its pages have no view of ours to decorate) gets ``INLINE_STYLES``."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        renderer = getattr(response, "accepted_renderer", None)
        if isinstance(renderer, BrowsableAPIRenderer) and parts.update is None:
            parts.update = INLINE_STYLES
        return parts


# also sent by the data plane's lean path (wlm/dataplane/front.py), as Django would
NO_STORE = "no-store, private"


class NoStoreMiddleware:
    """``Cache-Control: no-store, private`` on every answer; a view's own directives
    (``never_cache``) are kept, ``public`` is dropped."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        else:
            response["Cache-Control"] = NO_STORE
        return response
