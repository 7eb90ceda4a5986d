"""The settings page's forms (docs/settings.md): a tenant's notice contacts and language,
and the staff's choice of a tenant. The rules (a webhook URL to a public address, …) are
the model's, judged by ``wlm.tenancy.services.update_tenant`` as for the API."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from wlm.tenancy.models import NOTICE_LANGUAGES, TenantType

TENANT_CHOICES = [
    (TenantType.DISTRIBUTOR, TenantType.DISTRIBUTOR.label),
    (TenantType.PARTNER, TenantType.PARTNER.label),
    (TenantType.ORGANIZATION, TenantType.ORGANIZATION.label),
]


class TenantSettingsForm(forms.Form):
    email = forms.EmailField(
        label=_("Notice e-mail"),
        required=False,
        max_length=254,
        help_text=_("Expiry notices are sent to this address."),
    )
    webhook_url = forms.URLField(
        label=_("Webhook URL"),
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text=_("Receives signed notice webhooks (http or https, a public address)."),
    )
    language = forms.ChoiceField(label=_("Notice language"), choices=NOTICE_LANGUAGES)


class TenantChoiceForm(forms.Form):
    """Staff open any tenant's settings by its type and id."""

    tenant_type = forms.ChoiceField(label=_("Tenant type"), choices=TENANT_CHOICES)
    tenant_id = forms.IntegerField(label=_("Tenant id"), min_value=1, max_value=2**63 - 1)
