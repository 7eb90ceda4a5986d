"""The inbox page: the user's in-app notices, as ``GET /api/v1/inbox/`` lists them; the
tenant's settings page: its notice contacts, webhook secret, tests and delivery log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from wlm.lib.filters import INT64
from wlm.lib.pagination import CappedPaginator
from wlm.lib.views import ScopedListView, apply_service
from wlm.notifications import messages as notice_messages
from wlm.notifications import probes, queries, services
from wlm.notifications.filters import DeliveryLogFilterSet, InboxFilterSet
from wlm.notifications.forms import TenantChoiceForm, TenantSettingsForm
from wlm.notifications.models import Delivery
from wlm.tenancy import services as tenancy_services
from wlm.tenancy.models import NOTICE_LANGUAGES, TenantType
from wlm.tenancy.scoping import actor_of
from wlm.tenancy.services import TENANT_MODELS, holds_webhook_credentials
from wlm.tenancy.throttles import retry_after, wait_text


def _with_messages(items) -> None:
    """Each item's subject and text as they were sent (the API's ``subject``/``text``):
    plain text, which the template escapes."""
    for item in items:
        message = notice_messages.stored(item)
        item.subject, item.text = message.subject, message.text


def _own_items(user):
    return services.inbox_of(user).visible_to(user)


class InboxView(ScopedListView):
    """Newest first; ``?unread=true`` shows the unread ones only (the API's filter)."""

    model = Delivery
    filterset_class = InboxFilterSet
    ordering_fields = ("created",)
    default_ordering = ("-created", "-id")
    api_url_name = "api:inbox-list"
    template_name = "notifications/inbox.html"
    results_template_name = "notifications/_inbox_results.html"

    def base_queryset(self):
        return services.inbox_of(self.request.user)

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        _with_messages(context["object_list"])
        context["unread_count"], context["unread_capped"] = services.unread_count(self.request.user)
        context["unread_only"] = self.request.GET.get("unread") == "true"
        return context


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's own items read (any role: not a write to tenant data)."""
    if pk not in INT64:  # SQLite cannot even compare such a number
        raise Http404
    item = get_object_or_404(_own_items(request.user), pk=pk)
    services.mark_read(item)
    if getattr(request, "htmx", None):  # the row in place, and the unread count beside it
        item = _own_items(request.user).get(pk=pk)
        _with_messages([item])
        unread, capped = services.unread_count(request.user)
        context = {"item": item, "unread_count": unread, "unread_capped": capped}
        context["swap_count"] = True
        return render(request, "notifications/_inbox_item.html", context)
    messages.success(request, gettext("Marked as read."))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("notifications:inbox")
    return redirect(target)


# --- The tenant's settings page (/settings/; docs/settings.md) ---------------------------
LOG_PAGE_SIZE = 25


def _settings_reader(request: HttpRequest):
    """The actor of a settings page: a tenant's user or a human staff member; the gateway
    and users without a tenant are refused (403)."""
    actor = actor_of(request.user)
    if actor.tenant_type is None or actor.is_gateway:
        raise PermissionDenied(gettext("You cannot read a tenant's settings."))
    return actor


def _tenant_or_404(request: HttpRequest, tenant_type: str, pk: int):
    """The tenant whose settings the user may read: their own (a tenant's user), any
    (staff). Any other tenant does not exist here (404)."""
    actor = _settings_reader(request)
    model = TENANT_MODELS.get(tenant_type)
    if model is None or pk not in INT64:
        raise Http404
    if not actor.is_staff and (actor.tenant_type, actor.tenant_id) != (tenant_type, pk):
        raise Http404
    return get_object_or_404(model.objects.visible_to(request.user), pk=pk)


def _require_editor(request: HttpRequest, tenant) -> None:
    """Changes and tests: the tenant's own admins and staff admins (403 otherwise)."""
    if not holds_webhook_credentials(request.user, tenant):
        raise PermissionDenied(gettext("Only the tenant's own admins and staff admins change it."))


@login_required
@require_http_methods(["GET"])
def settings_home(request: HttpRequest) -> HttpResponse:
    """``/settings/``: a tenant's user goes to their tenant's page; staff choose one."""
    actor = _settings_reader(request)
    if not actor.is_staff:
        return redirect("notifications:settings", actor.tenant_type, actor.tenant_id)
    form = TenantChoiceForm(request.GET or None)
    if form.is_valid():
        return redirect(
            "notifications:settings",
            form.cleaned_data["tenant_type"],
            form.cleaned_data["tenant_id"],
        )
    return render(
        request,
        "notifications/settings_choose.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def _settings_page(request, tenant, tenant_type, *, form=None, status=200, **extra):
    may_edit = holds_webhook_credentials(request.user, tenant)
    if form is None and may_edit:
        form = TenantSettingsForm(
            initial={
                "email": tenant.email,
                "webhook_url": tenant.webhook_url,
                "language": tenant.language,
            }
        )
    rows = queries.tenant_deliveries(request.user, tenant_type, tenant.pk)
    log_filter = DeliveryLogFilterSet(request.GET or None, queryset=rows)
    paginator = CappedPaginator(log_filter.qs, LOG_PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    queries.mask_deliveries(page_obj.object_list, request.user)
    context = {
        "tenant": tenant,
        "tenant_type": tenant_type,
        "tenant_type_label": TenantType(tenant_type).label,
        "may_edit": may_edit,
        "form": form,
        "log_filter": log_filter,
        "paginator": paginator,
        "page_obj": page_obj,
        "is_paginated": page_obj.has_other_pages(),
        "deliveries": page_obj.object_list,
        "language_label": dict(NOTICE_LANGUAGES).get(tenant.language, tenant.language),
        "tests_per_minute": probes.per_minute() if may_edit else None,
        **extra,
    }
    htmx = getattr(request, "htmx", None)
    template = (
        "notifications/_delivery_log.html"
        if htmx and htmx.target == "results"
        else "notifications/settings.html"
    )
    response = render(request, template, context, status=status)
    if extra.get("new_secret"):
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def tenant_settings(request: HttpRequest, tenant_type: str, pk: int) -> HttpResponse:
    """``/settings/<type>/<id>/``: read (the tenant's users, staff); POST changes the
    notice e-mail, webhook URL and language (``update_tenant``)."""
    tenant = _tenant_or_404(request, tenant_type, pk)
    if request.method != "POST":
        return _settings_page(request, tenant, tenant_type)
    _require_editor(request, tenant)
    form = TenantSettingsForm(request.POST)
    if form.is_valid():
        # the service judges and refuses in its own transaction (nothing stored changes)
        done = apply_service(
            form,
            lambda: tenancy_services.update_tenant(request.user, tenant, **form.cleaned_data),
        )
        if done is not None:
            messages.success(request, gettext("The settings are saved."))
            return redirect("notifications:settings", tenant_type, tenant.pk)
    tenant.refresh_from_db()  # what is stored, beside the refused form
    return _settings_page(request, tenant, tenant_type, form=form, status=400)


@login_required
@require_POST
def rotate_secret(request: HttpRequest, tenant_type: str, pk: int) -> HttpResponse:
    """``/settings/<type>/<id>/webhook-secret/``: a new signing secret, in this answer only
    (not stored in the clear anywhere else, not in a redirect)."""
    tenant = _tenant_or_404(request, tenant_type, pk)
    _require_editor(request, tenant)
    secret = tenancy_services.rotate_webhook_secret(request.user, tenant)
    return _settings_page(request, tenant, tenant_type, new_secret=secret)


@login_required
@require_POST
def send_test(request: HttpRequest, tenant_type: str, pk: int) -> HttpResponse:
    """``/settings/<type>/<id>/test/``: ``channel=webhook`` or ``email``; the page with
    the outcome (the status code or the error). Over the rate: 429 with Retry-After."""
    tenant = _tenant_or_404(request, tenant_type, pk)
    _require_editor(request, tenant)
    channel = request.POST.get("channel", "")
    try:
        outcome = probes.send_test(request.user, tenant, channel)
    except DjangoValidationError as error:
        return _settings_page(
            request, tenant, tenant_type, status=400, test_error=" ".join(error.messages)
        )
    except probes.ProbeThrottled as refused:
        message = gettext("Too many tests for this tenant. Try again in %(wait)s.") % {
            "wait": wait_text(refused.wait)
        }
        response = _settings_page(request, tenant, tenant_type, status=429, test_error=message)
        response["Retry-After"] = retry_after(refused.wait)
        return response
    return _settings_page(request, tenant, tenant_type, outcome=outcome)
