"""The login forms of the site and of the admin, behind the login throttles."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.views.decorators.debug import sensitive_variables

from wlm.tenancy import throttles


class ThrottledLoginMixin:
    """Django's ``AuthenticationForm.clean`` with the password checked by
    ``throttles.authenticate``: a refused attempt is a form error (``throttled_wait``
    tells the view how long), its password is never looked at."""

    throttled_wait: float | None = None

    @sensitive_variables()
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = throttles.authenticate(self.request, username, password)
            except throttles.LoginThrottled as refused:
                self.throttled_wait = refused.wait
                raise forms.ValidationError(
                    throttles.too_many_logins(refused.wait), code="throttled"
                ) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The site's login (/accounts/login/)."""


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login (/admin/login/): the same throttles, then staff only."""
