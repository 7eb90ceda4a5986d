"""A password change or a deactivation revokes the user's API tokens, whatever path did it.

Every path that changes a password saves the user: the pages (change, reset), the
admin (a new password, or none usable), ``createsuperuser``/``changepassword``,
``set_password`` and ``save`` in code. So the one place is the user's save: before it,
the stored hash is compared with the new one (only when the password may be among the
saved fields — a login's ``last_login`` costs no query); after it, the tokens go.
``QuerySet.update(password=…)`` bypasses ``save`` and must not be used for passwords.

The same look before the save sees ``is_active`` going from true to false (the admin, the
API, code): the user's tokens are revoked then too.

Sessions need nothing here: each carries a hash of the password, so Django ends the
user's other sessions itself, and the page that changed it keeps its own; a deactivated
user's sessions are refused at their next request (``ModelBackend.get_user`` returns no
inactive user), so they end at once as well.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from wlm.tenancy import throttles, tokens

_CHANGED = "_wlm_password_changed"
_DEACTIVATED = "_wlm_deactivated"


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
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    row = sender._default_manager.filter(pk=instance.pk).values_list("password", "is_active")
    row = row.first()
    if row is None:
        return
    stored, was_active = row
    saved = update_fields is None or "password" in update_fields
    changed = saved and stored != instance.password
    setattr(instance, _CHANGED, changed and not _is_rehash(instance, stored, update_fields))
    setattr(instance, _DEACTIVATED, was_active and not instance.is_active)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _revoke_after_password_change(sender, instance, **kwargs) -> None:
    if instance.__dict__.pop(_CHANGED, False):
        password_changed(instance)
    if instance.__dict__.pop(_DEACTIVATED, False):
        tokens.revoke_all(instance)


def password_changed(user) -> None:
    """What a new password ends: every API token of the user (a token login hands out a
    new one), and the failed logins counted against the username. Any future kind of
    token is revoked here too."""
    tokens.revoke_all(user)
    throttles.forget_failed_logins(user.get_username())
