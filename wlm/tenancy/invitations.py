"""Invitations: the one-time link that lets an invited user set their password, and its
e-mail (docs/tenancy.md, "Users").

An invited user is created active with an unusable password (no login, and no password
reset, which skips such accounts) until the link sets one. The link's token is Django's
password-reset token under a salt of its own (a reset token is no invitation, nor the
reverse), valid ``INVITATION_DAYS``: it hashes the user's password, last login, e-mail
and whether the account is active, so it works once — the password it sets changes the
hash — and not after the user is deactivated.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from wlm.lib import clock

INVITATION_DAYS = 7


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "wlm.tenancy.invitations.InvitationTokenGenerator"
    timeout = dt.timedelta(days=INVITATION_DAYS)

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}{int(user.is_active)}"

    def _now(self):
        return clock.now().astimezone(dt.UTC).replace(tzinfo=None)

    def check_token(self, user, token) -> bool:
        """Django's check with the invitation's own lifetime (not PASSWORD_RESET_TIMEOUT)."""
        if not (user and token):
            return False
        try:
            ts_b36, _hash = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        for secret in [self.secret, *self.secret_fallbacks]:
            if constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token):
                break
        else:
            return False
        return 0 <= self._num_seconds(self._now()) - ts <= self.timeout.total_seconds()

    def expires(self, token: str) -> datetime:
        """When ``token`` stops working (UTC)."""
        ts = base36_to_int(token.split("-")[0])
        return (datetime(2001, 1, 1) + dt.timedelta(seconds=ts) + self.timeout).replace(
            tzinfo=dt.UTC
        )


invitation_tokens = InvitationTokenGenerator()


def link_path(user) -> str:
    """The path of a new invitation link of ``user`` (``/invitation/<uid>/<token>/``)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accept_invitation", args=[uid, invitation_tokens.make_token(user)])


def send(person, *, inviter, tenant_name: str, language: str) -> None:
    """The invitation e-mail to ``person``, in ``language``; its link is under the
    platform's ``PUBLIC_URL`` — never the request's Host header, which a client chooses
    (a forged host would put an attacker's address in front of a valid token). Raises what
    the mail backend raises (the caller rolls back)."""
    site = settings.PUBLIC_URL
    path = link_path(person)
    context = {
        "person": person,
        "name": person.get_full_name() or person.email,
        "inviter": inviter.get_username(),
        "tenant_name": tenant_name,
        "link": site.rstrip("/") + path,
        "days": INVITATION_DAYS,
        "site": site,
    }
    with translation.override(language):
        # one line: the tenant's name is validated one-line, the subject is cut anyway
        subject = " ".join(
            render_to_string("tenancy/email/invitation_subject.txt", context).split()
        )
        text = render_to_string("tenancy/email/invitation.txt", context)
        html = render_to_string("tenancy/email/invitation.html", context)
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
    )
    email.attach_alternative(html, "text/html")
    email.send(fail_silently=False)
