"""The installer devices page's form: it checks types; the service decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from wlm.tenancy.models import Partner
from wlm.tenancy.scoping import actor_of


class InstallerDeviceForm(forms.Form):
    """A new installer device: its MAC (any usual notation) and a label; staff choose
    the partner, a partner's admin adds to its own."""

    mac = forms.CharField(
        label=_("MAC address"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"placeholder": "AA:BB:CC:DD:EE:FF", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        required=False,
        help_text=_("e.g. the installer's test phone; not its MAC address."),
    )

    def __init__(self, *args, user, **kwargs):
        # ids of its own: the page's filter panel has a ``mac`` field too
        super().__init__(*args, auto_id="device_%s", **kwargs)
        if actor_of(user).is_staff:
            self.fields["partner"] = forms.ModelChoiceField(
                label=_("Partner"), queryset=Partner.objects.visible_to(user).order_by("name")
            )
