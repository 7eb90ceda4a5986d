"""The throttles of Send Key: key attempts counted per user and per client address. The
API's activate view and the Send Key page count against the same counters in the same
cache, so switching between them buys no extra tries."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class _ActivationThrottle(SimpleRateThrottle):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request)}


class ActivationUserThrottle(_ActivationThrottle):
    """Key attempts per user, so one account cannot probe keys."""

    scope = "activate_user"

    def ident(self, request):
        return request.user.pk


class ActivationAddressThrottle(_ActivationThrottle):
    """Key attempts per client address, so many accounts from one place cannot either."""

    scope = "activate_address"

    def ident(self, request):
        return self.get_ident(request)


ACTIVATION_THROTTLES = [ActivationUserThrottle, ActivationAddressThrottle]
