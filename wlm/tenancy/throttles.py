"""Throttles of logging in and of password reset e-mails (docs/tenancy.md, "Logging in").

Failed logins are counted per username and per client address at every door — the
site's login page, the admin's and the token endpoint — in the throttles' cache, with the
rates ``login_user`` and ``login_address`` of ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``:

- Only failures count, in a sliding window; an attempt that is refused is not checked and
  not counted, so a refusal ends at most one window after the last counted failure.
- An address over its limit is refused for every username, the right password included
  (else the limit would tell an attacker when a guess was right).
- A username over its limit is refused from every address it has not logged in from in
  the last 30 days: an attacker elsewhere can slow the guessing at an account down, but
  not lock its owner out of the places the owner logs in from.
- A success never resets a counter (an attacker's own account would wipe its failures);
  a password change forgets the username's failures (its owner proved who it is).

Reset e-mails are limited per e-mail address without saying so (the page answers "sent",
as for an unknown address) and per client address with a visible refusal.
"""

from __future__ import annotations

import logging
import math
import unicodedata

from django.contrib.auth import authenticate as django_authenticate
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext

from wlm.lib.throttles import AttemptCounter, client_address, digest

logger = logging.getLogger(__name__)
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


class LoginThrottled(Exception):
    """Too many failed logins for this username or from this address; ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def _normalized(username: str) -> str:
    return unicodedata.normalize("NFKC", username).casefold()


def _known_key(username: str, address: str) -> str:
    return "login_known_" + digest(username + "\0" + address)


def authenticate(request: HttpRequest, username: str, password: str):
    """Django's ``authenticate`` behind the login throttles: the user, or None for wrong
    credentials (counted); raises ``LoginThrottled`` before checking the password."""
    name = _normalized(username)
    address = client_address(request)
    by_user = AttemptCounter("login_user", name)
    by_address = AttemptCounter("login_address", address)
    waits = [by_address.wait()]
    user_wait = by_user.wait()
    if user_wait is not None and not cache.get(_known_key(name, address)):
        waits.append(user_wait)
    waits = [wait for wait in waits if wait is not None]
    if waits:
        logger.warning("Login refused for a while: too many failed attempts (%s)", address)
        raise LoginThrottled(max(waits))
    user = django_authenticate(request, username=username, password=password)
    if user is None:
        by_user.count()
        by_address.count()
    else:
        cache.set(_known_key(name, address), True, KNOWN_ADDRESS_SECONDS)
    return user


def forget_failed_logins(username: str) -> None:
    """The username's failures are forgotten (its password was just changed)."""
    AttemptCounter("login_user", _normalized(username)).forget()


def wait_text(wait: float) -> str:
    """ "45 seconds", "12 minutes": how long the refusal lasts, rounded up."""
    seconds = max(1, math.ceil(wait))
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def too_many_logins(wait: float) -> str:
    return gettext("Too many failed logins. Try again in %(wait)s.") % {"wait": wait_text(wait)}


def password_reset_wait(request: HttpRequest) -> float | None:
    """Count one reset request from the client's address: None if allowed, else the
    seconds to wait (the request is then refused and not counted)."""
    counter = AttemptCounter("password_reset_address", client_address(request))
    wait = counter.wait()
    if wait is None:
        counter.count()
    return wait


def may_send_password_reset(email: str) -> bool:
    """Whether a reset e-mail may go to ``email`` now (and count it): the limit per
    address, the same for addresses with and without an account."""
    counter = AttemptCounter("password_reset", email.strip().casefold())
    if counter.wait() is not None:
        logger.info("Password reset e-mail not sent: too many for one address this hour")
        return False
    counter.count()
    return True
