"""The locations pages: the list with its search panel, Send Key and installation mode.

All read the API's queryset (``queries.with_license``) through the tenancy door; Send
Key calls ``lifecycle.provision`` behind the API's own throttles, so a key cannot be
probed faster from the page than from the API; installation mode calls the services the
API calls (``services.start_installation``, ``end_installation``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.views import View

from wlm.lib import clock
from wlm.lib.views import ScopedListView, apply_service
from wlm.licenses import lifecycle
from wlm.licenses.dates import ENDING_SOON_DAYS, ending_soon
from wlm.licenses.models import License, LicenseStatus
from wlm.licenses.throttles import ACTIVATION_THROTTLES
from wlm.locations import services
from wlm.locations.filters import LOCATION_ORDERING, LocationFilterSet
from wlm.locations.forms import LOCAL_MOMENT, InstallationForm, SendKeyForm
from wlm.locations.models import NEVER, Location
from wlm.locations.queries import LocationPaginator, with_license
from wlm.tenancy import saved_views
from wlm.tenancy.models import SavedList, TenantType
from wlm.tenancy.scoping import actor_of


def may_activate(user) -> bool:
    """Whether ``user`` may try a key at all: the lifecycle's right to provision
    (organization admins and staff), as ``lifecycle.provision`` checks it."""
    return lifecycle.may(user, "provision")


def activation_wait(request: HttpRequest) -> float | None:
    """Count one Send Key attempt against the API's throttles (per user and per address,
    the same counters in the same cache); None if allowed, else the seconds to wait."""
    waits = []
    for throttle_class in ACTIVATION_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 60)
    return max(waits) if waits else None


def _label_statuses(locations) -> None:
    """Each location's license status label, and whether it is in installation now."""
    labels = dict(LicenseStatus.choices)
    now = clock.now()
    for location in locations:
        location.license_status_label = labels.get(location.license_status, "")
        location.installation_active = location.in_installation(now)


def may_switch_installation(user) -> bool:
    """Whether ``user``'s role switches installation mode anywhere (organization and
    partner admins, staff admins): the button; the location's own check is the
    service's."""
    return Location.objects.may_manage(user)


def shows_installer_devices(user) -> bool:
    """The installer devices are a partner's: its users and staff have the page."""
    actor = actor_of(user)
    return actor.is_staff or actor.tenant_type == TenantType.PARTNER


class LocationListView(ScopedListView):
    """Locations with their license as the user sees it; the search panel filters with
    the API's FilterSet and the CSV link exports the same rows."""

    model = Location
    filterset_class = LocationFilterSet
    ordering_fields = LOCATION_ORDERING
    default_ordering = ("name", "id")
    paginator_class = LocationPaginator  # by license end: read from its index
    api_url_name = "api:location-list"
    template_name = "locations/list.html"
    results_template_name = "locations/_results.html"
    saved_views_list = SavedList.LOCATIONS
    saved_views_store = saved_views

    def base_queryset(self):
        return with_license(self.request.user).select_related("organization")

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        _label_statuses(context["object_list"])
        start, end = ending_soon(timezone.localdate(clock.now()))
        context.update(
            may_activate=may_activate(self.request.user),
            may_switch_installation=may_switch_installation(self.request.user),
            shows_installer_devices=shows_installer_devices(self.request.user),
            **self.filter_chosen(context["filter"], "organization"),
            ending_soon_days=ENDING_SOON_DAYS,
            ending_soon_query=f"license_end_after={start}&license_end_before={end}",
            # an organization's users see one organization: no choice to offer
            show_organization_filter=(
                actor_of(self.request.user).tenant_type != TenantType.ORGANIZATION
            ),
        )
        return context


def _provision(user, location: Location, key: str) -> License:
    """``lifecycle.provision`` with its unknown-key answer as the form's error (shown like
    the service's other refusals, in the form's alert)."""
    try:
        return lifecycle.provision(user, location, key)
    except lifecycle.UnknownKey:
        raise DjangoValidationError(lifecycle.UnknownKey.message) from None


class SendKeyView(LoginRequiredMixin, View):
    """Send Key: activate a license key on one location (organization admins, staff).

    Another organization's location is a 404; a role that may not activate gets 403
    before anything is counted; every attempt then counts against the throttles.
    """

    template_name = "locations/send_key.html"

    def location(self) -> Location:
        user = self.request.user
        rows = with_license(user).visible_to(user).select_related("organization")
        location = get_object_or_404(rows, pk=self.kwargs["pk"])
        _label_statuses([location])
        return location

    def require_activator(self) -> None:
        if not may_activate(self.request.user):
            raise PermissionDenied(
                gettext("Only the organization's admins can activate a license key.")
            )

    def render_form(self, location: Location, form: SendKeyForm, status: int = 200):
        context = {"location": location, "form": form}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk) -> HttpResponse:
        location = self.location()
        self.require_activator()
        return self.render_form(location, SendKeyForm())

    def post(self, request: HttpRequest, pk) -> HttpResponse:
        location = self.location()
        self.require_activator()
        form = SendKeyForm(request.POST)
        wait = activation_wait(request)
        if wait is not None:
            form.is_valid()
            seconds = max(1, round(wait))
            form.add_error(
                None,
                ngettext(
                    "Too many key attempts. Try again in %(seconds)d second.",
                    "Too many key attempts. Try again in %(seconds)d seconds.",
                    seconds,
                )
                % {"seconds": seconds},
            )
            response = self.render_form(location, form, status=429)
            response["Retry-After"] = str(seconds)
            return response
        if form.is_valid():
            key = form.cleaned_data["key"]
            license = apply_service(form, lambda: _provision(request.user, location, key))
            if license is not None:
                messages.success(
                    request,
                    gettext("Key activated: %(status)s") % {"status": license.get_status_display()},
                )
                return redirect("licenses:detail", pk=license.pk)
        return self.render_form(location, form, status=400)


def local_moment(moment: dt.datetime, zone: str) -> str:
    """A moment as the location's clock shows it: "2027-06-10 10:00 NZST" (the pages
    write it with ``|timezone:location.timezone|date:"SHORT_DATETIME_FORMAT"``)."""
    return formats.date_format(moment.astimezone(zoneinfo.ZoneInfo(zone)), "SHORT_DATETIME_FORMAT")


class InstallationView(LoginRequiredMixin, View):
    """A location's installation mode (docs/connections.md): its state for whoever sees
    the location; the switch for those who manage it (its organization's admins, its
    partner's, staff). Another tenant's location is a 404; a POST by a role that may
    not switch is a 403, before the form is read."""

    template_name = "locations/installation.html"

    def location(self) -> Location:
        user = self.request.user
        rows = with_license(user).visible_to(user).with_managed(user)
        location = get_object_or_404(rows.select_related("organization"), pk=self.kwargs["pk"])
        _label_statuses([location])
        return location

    def render_page(self, location: Location, form, end_form, status: int = 200):
        starts = location.counting_starts()
        context = {
            "location": location,
            "form": form,
            "end_form": end_form,
            "active": location.installation_active,
            "counts_from": starts if starts is not NEVER else None,
            "may_switch": location.managed,
            "shows_installer_devices": shows_installer_devices(self.request.user),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk) -> HttpResponse:
        location = self.location()
        week = (clock.now() + dt.timedelta(days=7)).astimezone(zoneinfo.ZoneInfo(location.timezone))
        form = InstallationForm(
            zone=location.timezone,
            initial={"until": week.replace(minute=0, second=0).strftime(LOCAL_MOMENT)},
        )
        return self.render_page(location, form, forms.Form())

    def post(self, request: HttpRequest, pk) -> HttpResponse:
        location = self.location()
        if not location.managed:
            raise PermissionDenied(
                gettext("Only the location's admins and its partner switch installation mode.")
            )
        user = request.user
        form = InstallationForm(request.POST, zone=location.timezone)
        end_form = forms.Form(request.POST)
        if request.POST.get("action") == "end":
            form = InstallationForm(zone=location.timezone)  # the other form, unbound
            end_form.is_valid()
            if apply_service(end_form, lambda: services.end_installation(user, location)):
                messages.success(
                    request,
                    gettext("Installation mode is off: connections count from now on."),
                )
                return redirect("locations:installation", pk=location.pk)
            return self.render_page(location, form, end_form, status=400)
        if form.is_valid():
            until = form.cleaned_data["until"]
            done = apply_service(
                form, lambda: services.start_installation(user, location, until=until)
            )
            if done is not None:
                if until is None:
                    text = gettext("Installation mode is on until it is switched off.")
                else:
                    text = gettext("Installation mode is on until %(moment)s.") % {
                        "moment": local_moment(until, location.timezone)
                    }
                messages.success(request, text)
                return redirect("locations:installation", pk=location.pk)
        return self.render_page(location, form, end_form, status=400)
