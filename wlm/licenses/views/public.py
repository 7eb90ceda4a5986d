"""What anyone may read without logging in (docs/licenses-offline.md): the public keys
that verify signed licenses, and the page that verifies one. Neither reveals more than a
token holder already has: the JWKS holds public halves only, and the verify page shows
the terms a genuine token carries (nothing of a forged one) and whether a newer token
replaced it."""

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from wlm.licenses import signing, verification
from wlm.licenses.models import Module


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """``GET /.well-known/jwks.json``: every key that verifies, public halves only."""
    return JsonResponse(signing.jwks(), content_type="application/jwk-set+json")


class VerifyForm(forms.Form):
    token = forms.CharField(
        label=_("Signed license token"),
        help_text=_("The token printed under the certificate's verify code, or its link."),
        max_length=verification.MAX_TOKEN_CHARS + 500,  # room for the link around it
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
    )


def _shown(verdict: verification.Verdict | None) -> dict | None:
    """The terms of a genuine token as the page lists them; module codes named from the
    platform's catalogue (public: the same for every tenant)."""
    if verdict is None or verdict.claims is None:
        return None
    lic = verdict.claims["lic"]
    names = dict(Module.objects.filter(code__in=lic.get("modules", [])).values_list("code", "name"))
    return {
        **lic,
        "module_names": [names.get(code, code) for code in lic.get("modules", [])],
        "issuer": verdict.claims.get("iss"),
    }


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """``/verify/``: paste a token (or open the certificate's link: the page's script puts
    the token from the URL's fragment into the form and sends it) and read the verdict."""
    form = VerifyForm(request.POST if request.method == "POST" else None)
    verdict = None
    if form.is_valid():
        verdict = verification.check(form.cleaned_data["token"])
    status = 400 if form.is_bound and not form.is_valid() else 200
    context = {"form": form, "verdict": verdict, "terms": _shown(verdict)}
    return render(request, "licenses/verify.html", context, status=status)
