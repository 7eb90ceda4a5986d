"""The login forms of the site and of the admin, behind the login throttles; the form of a
new API token."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.debug import sensitive_variables

from wlm.lib import clock
from wlm.lib.validators import validate_one_line
from wlm.tenancy import throttles
from wlm.tenancy.models import NOTICE_LANGUAGES, Role, TokenScope


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


EXPIRY_CHOICES = [
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
    ("", pgettext_lazy("token expiry", "Never")),
]


class TokenForm(forms.Form):
    """A new API token (/tokens/): its name, scope and lifetime."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        validators=[validate_one_line],
        help_text=_("What uses it, e.g. “Billing system”."),
    )
    scope = forms.ChoiceField(
        label=_("Scope"),
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text=_("A read-only token is refused every change."),
    )
    expires_in = forms.ChoiceField(
        label=_("Expires"), choices=EXPIRY_CHOICES, initial="90", required=False
    )

    def expires(self):
        days = self.cleaned_data.get("expires_in")
        return clock.now() + dt.timedelta(days=int(days)) if days else None


class InviteForm(forms.Form):
    """A new user invited by e-mail (/users/): the tenant among those the admin manages
    (hidden when there is one), the role, the language of the e-mail and notices."""

    email = forms.EmailField(label=_("E-mail"), max_length=150)
    name = forms.CharField(
        label=_("Name"), max_length=150, required=False, validators=[validate_one_line]
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Role.VIEWER.value, Role.VIEWER.label), (Role.ADMIN.value, Role.ADMIN.label)],
        initial=Role.VIEWER,
    )
    language = forms.ChoiceField(label=_("Language"), choices=NOTICE_LANGUAGES, initial="en")
    tenant = forms.ChoiceField(label=_("Tenant"))

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = tenants
        if len(tenants) == 1:
            self.fields["tenant"].initial = tenants[0][0]
            self.fields["tenant"].widget = forms.HiddenInput()


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Role.ADMIN.value, Role.ADMIN.label), (Role.VIEWER.value, Role.VIEWER.label)],
    )


class DeactivateForm(forms.Form):
    """The deactivation's confirmation: nothing to fill in, a form for the rule's refusal."""
