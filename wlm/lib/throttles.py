"""Attempt counters for the pages' throttles: DRF's rates, cache and client address.

DRF's ``SimpleRateThrottle`` counts every request it lets through, in one step. A login
must be checked before the password is (a refused attempt must not reveal whether the
password was right) and counted only if it then fails, so ``AttemptCounter`` splits the
check from the count. Everything else is DRF's: the rates of
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` and their parsing, the sliding window of
timestamps kept in the default cache under DRF's key format, and the client address by
``NUM_PROXIES`` (``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from wlm.lib import clock


def client_address(request: HttpRequest) -> str:
    """The client's address by DRF's rule: the peer, or the address the trusted proxies
    (``NUM_PROXIES``) forwarded; the same address every API throttle counts."""
    return BaseThrottle().get_ident(request) or ""


def digest(value: str) -> str:
    """A fixed-length, cache-safe stand-in for a username, e-mail or address in a key."""
    return hashlib.sha256(value.encode()).hexdigest()


class AttemptCounter(SimpleRateThrottle):
    """The attempts of one kind (``scope``, a rate name) by one ``ident`` in a sliding
    window; ``wait`` checks without counting, ``count`` records one attempt."""

    def __init__(self, scope: str, ident: str) -> None:
        self.scope = scope
        # read at each use, so a changed setting applies at once (DRF reads it at import)
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.cache_format % {"scope": scope, "ident": digest(ident)}

    def timer(self) -> float:
        return clock.now().timestamp()

    def _recent(self) -> list[float]:
        self.now = self.timer()
        return [at for at in self.cache.get(self.key, []) if at > self.now - self.duration]

    def wait(self) -> float | None:
        """Seconds until one more attempt is allowed; None while under the rate."""
        if self.num_requests is None:
            return None
        recent = self._recent()  # newest first
        if len(recent) < self.num_requests:
            return None
        return recent[self.num_requests - 1] + self.duration - self.now

    def count(self) -> None:
        """Record one attempt now (read again: another process may have counted since)."""
        if self.num_requests is None:
            return
        recent = self._recent()
        recent.insert(0, self.now)
        self.cache.set(self.key, recent[: self.num_requests], self.duration)

    def forget(self) -> None:
        self.cache.delete(self.key)
