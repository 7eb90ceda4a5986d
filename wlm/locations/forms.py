"""Forms of the locations pages: they check types; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _


class SendKeyForm(forms.Form):
    """Send Key: the license key typed as people type it (``normalize_key`` forgives
    case, spaces, hyphens and I/L/O), so the field only bounds its length."""

    key = forms.CharField(
        label=_("License key"),
        max_length=200,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "placeholder": "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
