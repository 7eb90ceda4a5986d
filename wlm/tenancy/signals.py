"""A password change revokes the user's API tokens, whatever path changed it.

Every path that changes a password saves the user: the pages (change, reset), the
admin (a new password, or none usable), ``createsuperuser``/``changepassword``,
``set_password`` and ``save`` in code. So the one place is the user's save: before it,
the stored hash is compared with the new one (only when the password may be among the
saved fields — a login's ``last_login`` costs no query); after it, the tokens go.
``QuerySet.update(password=…)`` bypasses ``save`` and must not be used for passwords.

Sessions need nothing here: each carries a hash of the password, so Django ends the
user's other sessions itself, and the page that changed it keeps its own.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from wlm.tenancy import throttles

_CHANGED = "_wlm_password_changed"


def _is_rehash(user, stored: str, update_fields) -> bool:
    """Django re-encodes a password with the current hasher when a login checks it: the
    same password under a new hash, saved alone with no ``set_password`` pending, over a
    hash the current hasher would replace. (A hash assigned by hand and saved alone over
    such an outdated one looks the same: use ``set_password``.)"""
    if update_fields is None or set(update_fields) != {"password"}:
        return False
    if getattr(user, "_password", None) is not None:  # set by set_password until saved
        return False
    try:
        hasher = identify_hasher(stored)
    except ValueError:
        return False
    return hasher.algorithm != get_hasher().algorithm or hasher.must_update(stored)


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _note_password_change(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True)
    stored = stored.first()
    changed = stored is not None and stored != instance.password
    setattr(instance, _CHANGED, changed and not _is_rehash(instance, stored, update_fields))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _revoke_after_password_change(sender, instance, **kwargs) -> None:
    if instance.__dict__.pop(_CHANGED, False):
        password_changed(instance)


def password_changed(user) -> None:
    """What a new password ends: every API token of the user (a token login hands out a
    new one), and the failed logins counted against the username. Any future kind of
    token is revoked here too."""
    Token.objects.filter(user=user).delete()
    throttles.forget_failed_logins(user.get_username())
