"""Which language a person reads (docs/i18n.md): a logged-in user's own setting (kept on
the membership, chosen on the profile page or by the header's switch, effective on the
next page); ``Accept-Language`` (or the switch's cookie) for anonymous pages and API calls
that carry no user. An organization's language serves its notices and its certificate.

Django's ``LocaleMiddleware`` picks the language of the request first (cookie, then
``Accept-Language``); ``UserLanguageMiddleware``, after authentication, puts a session
user's own language over it; ``wlm.tenancy.authentication.TokenAuthentication`` does the
same for an API client authenticated by token (DRF authenticates in the view, past the
middleware).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from wlm.lib import languages
from wlm.tenancy.models import Membership


def language_of(user: AbstractBaseUser) -> str | None:
    """The user's own language, or None (no membership: a bare superuser)."""
    try:
        language = user.membership.language
    except ObjectDoesNotExist:
        return None
    return language if language in languages.CODES else None


def use(request: HttpRequest, language: str | None) -> None:
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = language


class UserLanguageMiddleware:
    """After ``AuthenticationMiddleware``: a session user reads their own language."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # without a session cookie there is no session user: the session is not read
        # (an API call by token stays as it was, without Vary: Cookie)
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                use(request, language_of(user))
        return self.get_response(request)


def _back(request: HttpRequest) -> str:
    """Where the switch returns: ``next`` if it is one of ours, else the referring page,
    else the dashboard."""
    for candidate in (request.POST.get("next"), request.headers.get("referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return "/"


def _choose(request: HttpRequest, response: HttpResponse, language: str) -> HttpResponse:
    """Keep ``language``: on a logged-in user's membership, and in the language cookie
    (the login page after logging out, a bare superuser, an anonymous visitor)."""
    if request.user.is_authenticated:
        Membership.objects.filter(user=request.user).update(language=language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@require_POST
def switch(request: HttpRequest) -> HttpResponse:
    """``POST /language/`` (the header's switch), back to the page it was on. Unknown
    codes change nothing."""
    language = request.POST.get("language", "")
    response = HttpResponseRedirect(_back(request))
    if language not in languages.CODES:
        return response
    return _choose(request, response, language)


class ProfileForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("The pages, the API's messages and your notices (inbox and e-mail)."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """``/profile/``: who the user is, and their language."""
    form = ProfileForm(request.POST or None, initial={"language": translation.get_language()})
    if form.is_valid():
        language = form.cleaned_data["language"]
        translation.activate(language)  # the confirmation already in it
        messages.success(request, _("Your language is saved."))
        return _choose(request, HttpResponseRedirect(request.path), language)
    status = 400 if form.is_bound else 200
    return render(request, "tenancy/profile.html", {"form": form}, status=status)
