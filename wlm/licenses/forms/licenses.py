"""The confirmation forms of the license view's actions. Each checks the types of its
fields and hands them to the one lifecycle or service function of its action."""

from __future__ import annotations

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext_lazy as _

from wlm.licenses import lifecycle, services
from wlm.licenses.models import License, LicenseType, Module
from wlm.locations.models import Location

REASON_MAX = 2000


def reason_field(*, required: bool) -> forms.CharField:
    return forms.CharField(
        label=_("Reason") if required else _("Reason (optional)"),
        max_length=REASON_MAX,
        required=required,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class LicenseActionForm(forms.Form):
    """An action on one license by one user; ``act()`` calls the service that decides."""

    title = ""
    submit_label = _("Confirm")
    done = ""  # the success message
    danger = False  # shown as a destructive action

    def __init__(self, *args, license: License, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.license = license
        self.user = user

    def act(self) -> License:
        raise NotImplementedError


class _ModuleChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, module: Module) -> str:
        return module.name


class UpgradeForm(LicenseActionForm):
    title = _("Upgrade the license")
    submit_label = _("Upgrade")
    done = _("The license was upgraded.")

    aps = forms.IntegerField(
        label=_("APs limit"), min_value=1, max_value=services.MAX_LIMIT, required=False
    )
    rooms = forms.IntegerField(
        label=_("Rooms limit"), min_value=1, max_value=services.MAX_LIMIT, required=False
    )
    add_modules = _ModuleChoices(
        label=_("Add modules"),
        queryset=Module.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    remove_modules = _ModuleChoices(
        label=_("Remove modules"),
        queryset=Module.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = reason_field(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_field = "rooms" if self.license.license_type == LicenseType.ROOMS else "aps"
        del self.fields["aps" if limit_field == "rooms" else "rooms"]
        self.fields[limit_field].initial = self.license.limit
        enabled = self.license.modules.values("code")
        self.fields["add_modules"].queryset = Module.objects.exclude(code__in=enabled)
        self.fields["remove_modules"].queryset = Module.objects.filter(code__in=enabled)

    def act(self) -> License:
        data = self.cleaned_data
        return services.upgrade_license(
            self.user,
            self.license,
            aps=data.get("aps"),
            rooms=data.get("rooms"),
            add_modules=data["add_modules"],
            remove_modules=data["remove_modules"],
            reason=data["reason"],
        )


class RenewForm(LicenseActionForm):
    title = _("Renew the license")
    submit_label = _("Renew")
    done = _("The license was renewed.")

    years = forms.TypedChoiceField(
        label=_("Years"), choices=[(n, n) for n in range(1, 6)], coerce=int, initial=1
    )
    reason = reason_field(required=False)

    def act(self) -> License:
        return lifecycle.renew(
            self.user, self.license.pk, self.cleaned_data["years"], self.cleaned_data["reason"]
        )


class DenyForm(LicenseActionForm):
    title = _("Deny access")
    submit_label = _("Deny access")
    done = _("Access was denied.")
    danger = True

    reason = reason_field(required=True)

    def act(self) -> License:
        return lifecycle.deny(self.user, self.license.pk, self.cleaned_data["reason"])


class RestoreForm(LicenseActionForm):
    title = _("Restore access")
    submit_label = _("Restore access")
    done = _("Access was restored.")

    reason = reason_field(required=False)

    def act(self) -> License:
        return lifecycle.restore(self.user, self.license.pk, self.cleaned_data["reason"])


class CancelForm(LicenseActionForm):
    title = _("Cancel the license")
    submit_label = _("Cancel the license")
    done = _("The license was cancelled.")
    danger = True

    reason = reason_field(required=True)

    def act(self) -> License:
        return lifecycle.cancel(self.user, self.license.pk, self.cleaned_data["reason"])


class _LocationChoice(forms.ModelChoiceField):
    def label_from_instance(self, location: Location) -> str:
        return location.name


class _Offered(ModelChoiceIterator):
    """The field's ``offered`` rows as its choices (its ``queryset`` still validates)."""

    def __init__(self, field):
        super().__init__(field)
        self.queryset = field.offered


class _AssignableLocation(_LocationChoice):
    """Offers the locations ``lifecycle.assignable`` names; accepts any other location of
    the license's organization the user sees, so that one which stopped fitting since the
    form was shown (or a hand-made post) gets the rule's own refusal from ``assign``."""

    iterator = _Offered
    offered = Location.objects.none()


class AssignForm(LicenseActionForm):
    title = _("Assign a location")
    submit_label = _("Assign")
    done = _("The location was assigned to the license.")

    location = _AssignableLocation(label=_("Location"), queryset=Location.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        visible = Location.objects.visible_to(self.user)
        field = self.fields["location"]
        field.offered = (
            visible.filter(pk__in=lifecycle.assignable(self.license).values("pk")).order_by(
                "name", "pk"
            )
            if self.license.status in lifecycle.TRANSITIONS["assign"].sources
            else Location.objects.none()
        )
        field.queryset = visible.filter(organization_id=self.license.organization_id).exclude(
            assignments__license=self.license
        )

    def act(self) -> License:
        return lifecycle.assign(self.user, self.license.pk, self.cleaned_data["location"])


class UnassignForm(LicenseActionForm):
    title = _("Unassign a location")
    submit_label = _("Unassign")
    done = _("The location was unassigned from the license.")
    danger = True

    location = _LocationChoice(label=_("Location"), queryset=Location.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = Location.objects.visible_to(self.user).filter(
            assignments__license=self.license
        )

    def act(self) -> License:
        return lifecycle.unassign(self.user, self.license.pk, self.cleaned_data["location"])


ACTION_FORMS: dict[str, type[LicenseActionForm]] = {
    "upgrade": UpgradeForm,
    "renew": RenewForm,
    "deny": DenyForm,
    "restore": RestoreForm,
    "cancel": CancelForm,
    "assign": AssignForm,
    "unassign": UnassignForm,
}
