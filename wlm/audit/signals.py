"""Logins and failed logins in the audit log, whatever the door: the login pages, the
admin's, the API's token endpoint (``throttles.authenticate`` calls Django's
``authenticate``, which sends ``user_login_failed``). A failed login is written under the
tenant of the user whose name was tried, if there is one (its admins see attempts on
their users), else for staff only. Its password never reaches the signal (Django
cleanses it)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from wlm.audit.models import Kind
from wlm.audit.services import record, tenant_of

ANONYMOUS = "anonymous"


@receiver(user_logged_in, dispatch_uid="wlm_audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    record(Kind.LOGIN, obj=user, tenant=tenant_of(user), actor=user)


@receiver(user_login_failed, dispatch_uid="wlm_audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    User = get_user_model()
    name = str(credentials.get(User.USERNAME_FIELD) or credentials.get("username") or "")
    name = name.replace("\x00", "")
    user = (
        User._default_manager.filter(**{User.USERNAME_FIELD: name})
        .select_related("membership")
        .first()
        if name
        else None
    )
    record(
        Kind.LOGIN_FAILED,
        obj=user,
        tenant=tenant_of(user),
        label=name,
        actor_name=ANONYMOUS,
    )
