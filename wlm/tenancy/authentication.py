"""The API's token authentication (docs/api.md, "Authentication").

``Authorization: Token <secret>`` finds the user's named token (``wlm.tenancy.tokens``):
an unknown, expired or revoked token, or an inactive user, is a 401 saying which; a
``read`` token is refused every unsafe method (403) here, for every view at once, before
any permission or row is looked at. The client then reads its user's language (as a
session user does, ``wlm.tenancy.language``), and ``request.auth`` is the token.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions

from wlm.lib import clock
from wlm.tenancy import language, tokens
from wlm.tenancy.models import TokenScope

REFUSALS = {
    "unknown": _("Invalid token."),
    "revoked": _("This token has been revoked."),
    "expired": _("This token has expired."),
    "inactive": _("User inactive or deleted."),
}


class ReadOnlyToken(exceptions.PermissionDenied):
    default_detail = _("This token is read-only: it cannot change anything.")
    default_code = "read_only_token"


class TokenAuthentication(authentication.TokenAuthentication):
    """Named, hashed tokens; the scope enforced; the user's language."""

    keyword = "Token"

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user, token = found
        language.use(request, language.language_of(user))  # its refusals in it too
        if token.scope != TokenScope.WRITE and request.method not in permissions.SAFE_METHODS:
            raise ReadOnlyToken()
        return found

    def authenticate_credentials(self, key):
        token = tokens.find(key)
        if token is None:
            raise exceptions.AuthenticationFailed(REFUSALS["unknown"], code="token_unknown")
        now = clock.now()
        try:
            tokens.check(token, now)
        except tokens.Refused as refused:
            tokens.note_refused(token, refused.reason)
            code = f"token_{refused.reason}"
            raise exceptions.AuthenticationFailed(REFUSALS[refused.reason], code=code) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(REFUSALS["inactive"], code="user_inactive")
        tokens.touch(token, now)
        return token.user, token
