"""Where each request comes from, for the audit entries its changes write: the client's
address (by the throttles' rule: the peer, or what the trusted proxies forwarded) and
its user agent, in a context variable for the length of the request."""

from __future__ import annotations

import ipaddress

from wlm.audit.services import Client, reset_client, set_client
from wlm.lib.throttles import client_address


def _address(request) -> str | None:
    text = client_address(request).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None  # not an address (a test client's, a proxy's oddity): none


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_client(
            Client(address=_address(request), user_agent=request.META.get("HTTP_USER_AGENT", ""))
        )
        try:
            return self.get_response(request)
        finally:
            reset_client(token)
