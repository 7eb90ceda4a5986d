"""The license-request pages: the list (a distributor's queue, a partner's requests), the
request form, and the distributor's approve / reject confirmations. The rules are in
``wlm.licenses.services``; these views show forms and call it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from wlm.lib.problems import Conflict
from wlm.lib.views import ScopedListView, apply_service
from wlm.licenses import lifecycle, services
from wlm.licenses.filters import LicenseRequestFilterSet
from wlm.licenses.forms.requests import (
    CHANGE_FORMS,
    ApproveForm,
    LicenseRequestForm,
    PageForm,
    RejectForm,
)
from wlm.licenses.models import License, LicenseRequest, Module, RequestKind, RequestState
from wlm.licenses.queries import license_rows
from wlm.tenancy import saved_views
from wlm.tenancy.models import SavedList, TenantType
from wlm.tenancy.scoping import actor_of, manages


def requests_with_related():
    """Requests with what a row shows, in a fixed number of queries whatever the rows.
    The license is not loaded: its key is shown only as ``RequestListView`` masks it."""
    by_code = Module.objects.order_by("code")
    return LicenseRequest.objects.select_related(
        "location__organization", "partner", "distributor"
    ).prefetch_related(
        Prefetch("modules", by_code),
        Prefetch("add_modules", by_code),
        Prefetch("remove_modules", by_code),
    )


class RequestListView(ScopedListView):
    """The requests the user sees; a distributor lands on its queue (the pending ones)."""

    model = LicenseRequest
    filterset_class = LicenseRequestFilterSet
    ordering_fields = ("created", "state", "years", "decided")  # the API's ordering_fields
    default_ordering = ("-created", "-id")
    api_url_name = "api:license-request-list"
    template_name = "requests/list.html"
    results_template_name = "requests/_results.html"
    saved_views_list = SavedList.REQUESTS
    saved_views_store = saved_views

    def base_queryset(self):
        # the key only where the user sees the license, as the API shows it: an
        # organization reads it once the key was sent (Send Key), not from the request
        return requests_with_related().annotate(
            license_key=License.objects.shown_through("license", self.request.user, "key")
        )

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # A distributor's bare /requests/ is its queue: the pending ones, said in the URL
        # so the filter panel, the sort links and the CSV all agree with what is shown.
        if not request.GET and actor_of(request.user).tenant_type == TenantType.DISTRIBUTOR:
            return redirect(f"{reverse('requests:list')}?state={RequestState.PENDING}")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        selected = self.request.GET.getlist("state")
        kinds = self.request.GET.getlist("kind")
        context.update(
            state_choices=[
                (value, label, value in selected) for value, label in RequestState.choices
            ],
            kind_choices=[(value, label, value in kinds) for value, label in RequestKind.choices],
            queue_url=f"{reverse('requests:list')}?state={RequestState.PENDING}",
            all_url=f"{reverse('requests:list')}?q=",
            # the buttons: the services' own rights (a distributor sees only its requests)
            may_decide=services.may_decide(self.request.user),
            may_request=services.may_request(self.request.user),
            **self.filter_chosen(context["filter"], "partner"),
        )
        return context


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    """A partner (or staff) asks a distributor for a license for one location."""
    services.require_requester(request.user)  # 403 for any other role, before reading
    if request.method == "POST":
        form = LicenseRequestForm(request.POST, user=request.user)
        if form.is_valid():
            created = apply_service(
                form, lambda: services.create_request(request.user, form.terms())
            )
            if created is not None:
                messages.success(
                    request, _("Request sent to %(name)s.") % {"name": created.distributor.name}
                )
                # the warning a script showed beside the location, on the next page for all
                note = form.license_note(sent=True)
                if note:
                    messages.warning(request, note)
                return redirect("requests:list")
        return render(request, "requests/new.html", {"form": form}, status=400)
    form = LicenseRequestForm(
        initial=_prefill(request), user=request.user, location_q=request.GET.get("location_q", "")
    )
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == LOCATION_SELECT_ID:
        # the location search as one types: the select's options and the search's status
        return render(request, "requests/_location_options.html", {"form": form})
    return render(request, "requests/new.html", {"form": form})


LOCATION_SELECT_ID = "id_location"  # the select the location search fills (hx-target)


@login_required
@require_http_methods(["GET", "POST"])
def request_change(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The license's partner or organization asks for a renewal or an upgrade (the
    license view's Request buttons, the notices' link). The distributor, who makes the
    change itself, is sent to its own form instead; a user who may not ask, the 403
    page; a license the user does not see, 404."""
    license = get_object_or_404(
        license_rows().select_related("organization", "location").visible_to(request.user),
        pk=pk,
    )
    action = services.CHANGE_ACTIONS[kind]
    if lifecycle.may(request.user, action) and manages(request.user, license):
        return redirect(f"licenses:{action}", license.pk)
    services.require_change_asker(request.user, license)
    form_class = CHANGE_FORMS[kind]
    if request.method == "POST":
        form = form_class(request.POST, license=license, user=request.user)
        if form.is_valid():
            created = apply_service(form, form.act)
            if created is not None:
                messages.success(
                    request, _("Request sent to %(name)s.") % {"name": created.distributor.name}
                )
                return redirect("licenses:detail", license.pk)
        return _change_page(request, license, form, None, status=400)
    try:  # what the request would be refused for now, said before it is filled in
        services.check_change(license, kind)
        refusal = None
    except Conflict as error:
        refusal = str(error.detail)
    initial = {"years": request.GET["years"]} if request.GET.get("years") else {}
    form = form_class(license=license, user=request.user, initial=initial)
    return _change_page(request, license, form, refusal)


def _change_page(request, license, form, refusal, status: int = 200) -> HttpResponse:
    context = {"license": license, "form": form, "refusal": refusal}
    return render(request, "requests/change.html", context, status=status)


def _prefill(request: HttpRequest) -> dict[str, Any]:
    """``?location=<uuid>`` (the locations page links here, the location search sends the
    chosen one so that it stays chosen); an invisible or malformed one matches no option
    and is simply not chosen."""
    return {"location": request.GET["location"]} if request.GET.get("location") else {}


def _decidable(request: HttpRequest, pk: int) -> LicenseRequest:
    """The request if the user sees it (else 404) and may decide it (else 403)."""
    license_request = get_object_or_404(
        requests_with_related().select_related("license").visible_to(request.user), pk=pk
    )
    services.require_decider(request.user, license_request)
    return license_request


def _decision_page(
    request: HttpRequest, template: str, license_request: LicenseRequest, form, status: int = 200
) -> HttpResponse:
    return render(
        request, template, {"license_request": license_request, "form": form}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    """The distributor approves: the license is generated and shown."""
    license_request = _decidable(request, pk)
    # a renewal or an upgrade changes a license that exists: no start to choose
    form_class = PageForm if license_request.is_change else ApproveForm
    if request.method == "GET":
        return _decision_page(request, "requests/approve.html", license_request, form_class())
    form = form_class(request.POST)
    if form.is_valid():
        license = apply_service(
            form,
            lambda: services.approve_request(request.user, license_request.pk, **form.cleaned_data),
        )
        if license is not None:
            messages.success(request, _approved_message(license_request, license))
            return redirect("licenses:detail", license.pk)
    license_request = _decidable(request, pk)  # as it is now (another may have decided it)
    return _decision_page(request, "requests/approve.html", license_request, form, status=400)


def _approved_message(license_request: LicenseRequest, license: License) -> str:
    if license_request.kind == RequestKind.RENEWAL:
        return _("The license was renewed.")
    if license_request.kind == RequestKind.UPGRADE:
        return _("The license was upgraded.")
    return _("License generated: %(key)s") % {"key": license.key}


@login_required
@require_http_methods(["GET", "POST"])
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """The distributor rejects, with the reason the partner reads."""
    license_request = _decidable(request, pk)
    if request.method == "GET":
        return _decision_page(request, "requests/reject.html", license_request, RejectForm())
    form = RejectForm(request.POST)
    if form.is_valid():
        rejected = apply_service(
            form,
            lambda: services.reject_request(
                request.user, license_request.pk, form.cleaned_data["reason"]
            ),
        )
        if rejected is not None:
            messages.success(
                request,
                _("Request for %(location)s rejected.") % {"location": rejected.location.name},
            )
            return redirect("requests:list")
    license_request = _decidable(request, pk)
    return _decision_page(request, "requests/reject.html", license_request, form, status=400)
