"""API tokens: made, found, used and revoked (docs/api.md, "Authentication").

A token's secret is ``wlm_`` and 43 random URL-safe characters (256 bits), shown once
when it is made and never stored: the row keeps its first 12 characters (``prefix``: the
index that finds it, and what the pages show) and its SHA-256 (``digest``), compared in
constant time. Keys of DRF's former tokens (40 hexadecimal characters) were moved into
rows the same way (migration 0010), so the clients that hold them keep working.

Every reader of a token goes through ``find``: the API's authentication
(``wlm.tenancy.authentication``) and the data plane's lean path (``dataplane.front``).
``last_used`` is written by ``touch``, at most once a minute per token (a conditional
UPDATE, only when the row just read says it is older).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wlm.audit import services as audit
from wlm.audit.signals import ANONYMOUS
from wlm.lib import clock
from wlm.tenancy.models import ApiToken, TokenScope

PREFIX_LENGTH = 12
TOUCH_EVERY = dt.timedelta(minutes=1)  # last_used is written at most this often
KEY_START = "wlm_"


class Refused(Exception):
    """A token that exists but may not be used: expired or revoked (the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_START + secrets.token_urlsafe(32)


def find(key: str) -> ApiToken | None:
    """The token whose secret is ``key`` (revoked and expired ones too), with its user and
    membership; None for an unknown key."""
    if not key or len(key) > 200:
        return None
    wanted = digest_of(key)
    candidates = ApiToken.objects.select_related("user__membership").filter(
        prefix=key[:PREFIX_LENGTH]
    )
    found = None
    for token in candidates:  # one row but for a rare shared prefix
        if hmac.compare_digest(token.digest, wanted):
            found = token
    return found


def check(token: ApiToken, moment: dt.datetime) -> None:
    """Refused unless ``token`` may be used at ``moment``."""
    if token.revoked is not None:
        raise Refused("revoked")
    if token.expires is not None and token.expires <= moment:
        raise Refused("expired")


def touch(token: ApiToken, moment: dt.datetime) -> None:
    """Note that ``token`` was used at ``moment``: at most once a minute, and only by one
    of the processes that see it stale (the condition is repeated in the UPDATE)."""
    stale = moment - TOUCH_EVERY
    if token.last_used is None:  # its first use: in the audit log, once
        with transaction.atomic():
            if ApiToken.objects.filter(pk=token.pk, last_used__isnull=True).update(
                last_used=moment
            ):
                audit.record(
                    audit.Kind.TOKEN_FIRST_USED,
                    obj=token,
                    tenant=audit.tenant_of(token.user),
                    actor=token.user,
                )
    elif token.last_used <= stale:
        ApiToken.objects.filter(last_used__lte=stale, pk=token.pk).update(last_used=moment)
    else:
        return
    token.last_used = moment


def note_refused(token: ApiToken, reason: str) -> None:
    """A revoked or expired token was presented: one audit entry per token and minute
    across every process (the shared cache's ``add``), however often a client retries."""
    if cache.add(f"wlm:token-refused:{token.pk}", 1, timeout=TOUCH_EVERY.total_seconds()):
        audit.record(
            audit.Kind.TOKEN_REFUSED,
            obj=token,
            tenant=audit.tenant_of(token.user),
            actor_name=ANONYMOUS,
            after={"reason": reason},
        )


def issue(
    user,
    name: str,
    scope: str = TokenScope.WRITE,
    expires: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token of ``user`` and its secret (the only time it is known)."""
    if expires is not None and expires <= clock.now():
        raise ValidationError({"expires": [_("The expiry must be in the future.")]})
    key = new_key()
    token = ApiToken(
        user=user,
        name=name,
        scope=scope,
        expires=expires,
        prefix=key[:PREFIX_LENGTH],
        digest=digest_of(key),
    )
    token.full_clean(exclude=["user"])
    with transaction.atomic():
        token.save()
        audit.record(
            audit.Kind.TOKEN_CREATED,
            obj=token,
            tenant=audit.tenant_of(user),
            actor=user,
            after={"name": token.name, "scope": token.scope, "expires": token.expires},
        )
    return token, key


def revoke(actor_user, token: ApiToken) -> ApiToken:
    """Revoke ``token`` if ``actor_user`` manages it (their own, their users'; staff
    admins any); 404 semantics are the caller's (it looked the row up through
    ``visible_to``). A second revocation keeps the first moment."""
    if not ApiToken.objects.managed_by(actor_user).filter(pk=token.pk).exists():
        raise PermissionDenied(_("You cannot revoke this token."))
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=clock.now()):
            audit.record(
                audit.Kind.TOKEN_REVOKED,
                obj=token,
                tenant=audit.tenant_of(token.user),
                actor=actor_user,
            )
    token.refresh_from_db(fields=["revoked"])
    return token


def revoke_all(user) -> int:
    """Revoke every token of ``user`` (a new password, a deactivated account), one audit
    entry each, written by ``system`` (it follows from the user's change, itself logged)."""
    with transaction.atomic():
        live = list(ApiToken.objects.select_for_update().filter(user=user, revoked__isnull=True))
        ApiToken.objects.filter(pk__in=[token.pk for token in live]).update(revoked=clock.now())
        tenant = audit.tenant_of(user) if live else None
        for token in live:
            audit.record(
                audit.Kind.TOKEN_REVOKED,
                obj=token,
                tenant=tenant,
            )
    return len(live)
