"""Forms of the locations pages: they check types; the services decide."""

import datetime as dt
import zoneinfo

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


LOCAL_MOMENT = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends (seconds left out)


class InstallationForm(forms.Form):
    """Installation mode on: until a moment of the location's local time, or until
    switched off. The form reads the moment; the service decides (future, 30 days)."""

    UNTIL_DATE, UNTIL_OFF = "date", "off"
    ends = forms.ChoiceField(
        label=_("Ends"),
        choices=[(UNTIL_DATE, _("At a set time")), (UNTIL_OFF, _("When switched off"))],
        initial=UNTIL_DATE,
        widget=forms.RadioSelect,
    )
    until = forms.CharField(
        label=_("Ends at (the location's local time)"),
        required=False,
        max_length=32,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_MOMENT),
        help_text=_("At most 30 days from now."),
    )

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zoneinfo.ZoneInfo(zone)

    def clean_until(self) -> dt.datetime | None:
        text = self.cleaned_data["until"].strip()
        if not text:
            return None
        for pattern in (LOCAL_MOMENT, LOCAL_MOMENT + ":%S"):
            try:
                return dt.datetime.strptime(text, pattern).replace(tzinfo=self.zone)
            except ValueError:
                continue
        raise forms.ValidationError(_("Enter a date and time."))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("ends") == self.UNTIL_DATE and "until" in cleaned:
            if cleaned["until"] is None:
                self.add_error("until", _("Choose when the installation ends."))
        elif cleaned.get("ends") == self.UNTIL_OFF:
            cleaned["until"] = None
        return cleaned
