"""The inbox page: the user's in-app notices, as ``GET /api/v1/inbox/`` lists them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from wlm.lib.filters import INT64
from wlm.lib.views import ScopedListView
from wlm.notifications import messages as notice_messages
from wlm.notifications import services
from wlm.notifications.filters import InboxFilterSet
from wlm.notifications.models import Delivery


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
        context["unread_count"] = _own_items(self.request.user).filter(read_at__isnull=True).count()
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
        unread = _own_items(request.user).filter(read_at__isnull=True).count()
        context = {"item": item, "unread_count": unread, "swap_count": True}
        return render(request, "notifications/_inbox_item.html", context)
    messages.success(request, gettext("Marked as read."))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("notifications:inbox")
    return redirect(target)
