"""Logging in and resetting a password: Django's views behind the throttles; the page of
a user's API tokens.

The rules are in ``wlm.tenancy.throttles``; these views only show a refusal: 429 with
Retry-After and the form saying how long to wait (as Send Key's page does).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from wlm.lib import clock
from wlm.tenancy import throttles, tokens
from wlm.tenancy.forms import LoginForm, TokenForm
from wlm.tenancy.models import ApiToken


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


# --- API tokens (/tokens/; docs/pages.md, "API tokens") ---------------------------------
OTHERS_SHOWN = 100  # the newest tokens of the users an admin manages (staff: everyone's)


def _token_rows(request: HttpRequest) -> dict:
    """The user's own tokens, and the newest of the users they see, not revoked; each
    with whether the user may revoke it."""
    user = request.user
    now = clock.now()
    visible = ApiToken.objects.visible_to(user).filter(revoked__isnull=True)
    own = list(visible.filter(user=user))
    others = list(visible.exclude(user=user).select_related("user")[: OTHERS_SHOWN + 1])
    managed = set(
        ApiToken.objects.managed_by(user)
        .filter(pk__in=[token.pk for token in others])
        .values_list("pk", flat=True)
    )
    for token in own + others:
        token.state = token.state_at(now)
        token.may_revoke = token.user_id == user.pk or token.pk in managed
    return {"own": own, "others": others[:OTHERS_SHOWN], "more": len(others) > OTHERS_SHOWN}


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """``/tokens/``: the user's API tokens, and a form to make one. The new token's secret
    is in the answer to that POST and nowhere else (not stored, not in a redirect)."""
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            token, key = tokens.issue(request.user, data["name"], data["scope"], form.expires())
            created = {"token": token, "key": key}
            form = TokenForm()
        else:
            status = 400
    context = {"form": form, "created": created, **_token_rows(request)}
    return render(request, "tenancy/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def revoke_api_token(request: HttpRequest, pk: int) -> HttpResponse:
    """``/tokens/{id}/revoke/``: GET the confirmation (a modal ``<dialog>`` for htmx, else
    a page), POST to revoke. A token the user does not see is a 404; one they see but may
    not revoke, the 403 page."""
    token = get_object_or_404(
        ApiToken.objects.visible_to(request.user).select_related("user"), pk=pk
    )
    if not ApiToken.objects.managed_by(request.user).filter(pk=token.pk).exists():
        raise PermissionDenied(gettext("You cannot revoke this token."))
    if request.method == "POST":
        tokens.revoke(request.user, token)
        messages.success(
            request, gettext("The token “%(name)s” is revoked.") % {"name": token.name}
        )
        return HttpResponseRedirect(reverse("tokens"))
    htmx = getattr(request, "htmx", None)
    template = (
        "tenancy/includes/revoke_token_dialog.html"
        if htmx and htmx.target == "dialog"
        else "tenancy/revoke_token.html"
    )
    return render(request, template, {"token": token})
