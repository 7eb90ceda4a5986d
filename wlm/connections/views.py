"""The installer devices page (``/installer-devices/``, docs/pages.md): a partner's users
list its devices (staff every partner's), its admins add and remove them, through the
service the API calls (``installers``). Other tenants get the 403 page: the devices are a
partner's, not theirs."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from wlm.connections import installers
from wlm.connections.filters import InstallerDeviceFilterSet
from wlm.connections.forms import InstallerDeviceForm
from wlm.connections.models import InstallerDevice
from wlm.lib.views import ScopedListView, apply_service
from wlm.tenancy.models import Partner, TenantType
from wlm.tenancy.scoping import actor_of


def _require_reader(user) -> None:
    actor = actor_of(user)
    if not (actor.is_staff or actor.tenant_type == TenantType.PARTNER):
        raise PermissionDenied(gettext("Installer devices belong to partners."))


class InstallerDeviceListView(ScopedListView):
    """The devices with the API's FilterSet (label search, a MAC), and the add form."""

    model = InstallerDevice
    filterset_class = InstallerDeviceFilterSet
    ordering_fields = ("label", "created")
    default_ordering = ("partner__name", "label", "id")
    api_url_name = "api:installer-device-list"
    template_name = "connections/installer_devices.html"
    results_template_name = "connections/_installer_device_results.html"
    add_form: InstallerDeviceForm | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            _require_reader(request.user)
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return InstallerDevice.objects.select_related("partner")

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        may_change = InstallerDevice.objects.may_manage(user)
        context.update(
            may_change=may_change,
            form=self.add_form or (InstallerDeviceForm(user=user) if may_change else None),
            show_partner=actor_of(user).is_staff,
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        """Add a device; a refusal shows the list again with the form's errors (400)."""
        user = request.user
        if not InstallerDevice.objects.may_manage(user):
            raise PermissionDenied(gettext("Only the partner's admins add installer devices."))
        form = InstallerDeviceForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            partner = data.get("partner") or Partner.objects.get(pk=actor_of(user).tenant_id)
            device = apply_service(
                form,
                lambda: installers.add_installer_device(
                    user, partner, mac=data["mac"], label=data["label"]
                ),
            )
            if device is not None:
                messages.success(
                    request, gettext("Installer device added: %(device)s") % {"device": device}
                )
                return redirect("connections:installer_devices")
        self.add_form = form
        response = self.get(request)
        response.status_code = 400
        return response


@login_required
@require_POST
def remove_installer_device(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove one device (its partner's admins, staff admins); one the user does not see
    is a 404, one they see but may not change the 403 page."""
    _require_reader(request.user)
    device = get_object_or_404(
        InstallerDevice.objects.visible_to(request.user).select_related("partner"), pk=pk
    )
    installers.remove_installer_device(request.user, device)
    messages.success(request, gettext("Installer device removed: %(device)s") % {"device": device})
    return redirect("connections:installer_devices")
