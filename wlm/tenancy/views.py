"""Logging in and resetting a password: Django's views behind the throttles.

The rules are in ``wlm.tenancy.throttles``; these views only show a refusal: 429 with
Retry-After and the form saying how long to wait (as Send Key's page does).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext

from wlm.tenancy import throttles
from wlm.tenancy.forms import LoginForm


def answers_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login view whose throttled attempt (the form's ``throttled_wait``) answers 429
    with Retry-After; the page is the same form with its error."""

    @wraps(view)
    def login(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        wait = getattr(form, "throttled_wait", None)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = throttles.retry_after(wait)
        return response

    return login


site_login = answers_throttled(auth_views.LoginView.as_view(authentication_form=LoginForm))
# the admin's own view (its page, its "next"); its form is AdminLoginForm (tenancy/admin.py)
admin_login = answers_throttled(admin.site.login)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset page, limited per client address (the form says to wait) and per
    e-mail address (silently: the page answers "sent" whether or not an e-mail went)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = throttles.password_reset_wait(request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.is_valid()
        form.add_error(
            None,
            gettext("Too many password reset requests. Try again in %(wait)s.")
            % {"wait": throttles.wait_text(wait)},
        )
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = throttles.retry_after(wait)
        return response

    def form_valid(self, form) -> HttpResponse:
        if throttles.may_send_password_reset(form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())
