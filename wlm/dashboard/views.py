"""The dashboard: what needs a look today, counted through the tenancy door.

Licenses by status, those ending soon (``dates.ending_soon``), the latest notices and, for a
distributor (and staff), the license requests waiting for a decision. A fixed number of
queries, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from wlm.lib import clock
from wlm.licenses.dates import ENDING_SOON_DAYS, ending_soon
from wlm.licenses.models import License, LicenseRequest, LicenseStatus, RequestState
from wlm.notifications import messages
from wlm.notifications.filters import ShownState, with_shown_state
from wlm.notifications.models import Notice
from wlm.notifications.services import inbox_of
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import actor_of

ENDING_SOON_ROWS = 10
RECENT_NOTICES = 5
PENDING_REQUEST_ROWS = 5


def _status_cards(user) -> list[dict]:
    counts = dict(
        License.objects.visible_to(user)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    licenses_url = reverse("licenses:list")
    return [
        {
            "status": status,
            "label": label,
            "count": counts.get(status, 0),
            "url": f"{licenses_url}?{urlencode({'status': status})}",
        }
        for status, label in LicenseStatus.choices
    ]


def _ending_soon(user, today: dt.date) -> dict:
    first, until = ending_soon(today)
    licenses = License.objects.visible_to(user).filter(end_date__gte=first, end_date__lte=until)
    query = urlencode({"end_after": first.isoformat(), "end_before": until.isoformat()})
    return {
        "rows": list(
            licenses.select_related("organization", "location__organization").order_by(
                "end_date", "key"
            )[:ENDING_SOON_ROWS]
        ),
        "count": licenses.count(),
        "url": f"{reverse('licenses:list')}?{query}",
        "until": until,
        "days": ENDING_SOON_DAYS,
    }


def _recent_notices(user) -> dict:
    """The user's latest inbox items; a user without any (viewers, staff) reads the
    latest notices sent or skipped for the licenses it sees instead."""
    items = list(inbox_of(user).visible_to(user).order_by("-created", "-id")[:RECENT_NOTICES])
    if items:
        for item in items:
            item.subject = messages.stored(item).subject  # as it was sent
        return {"source": "inbox", "items": items}
    notices = with_shown_state(
        Notice.objects.visible_to(user).filter(decided_at__isnull=False).select_related("license")
    ).order_by("-decided_at", "-id")[:RECENT_NOTICES]
    labels = dict(ShownState.choices)
    rows = list(notices)
    for notice in rows:
        notice.shown_state_label = labels.get(notice.shown_state, notice.shown_state)
    return {"source": "notices", "items": rows}


def _pending_requests(user) -> dict | None:
    """The distributor's queue (staff: every distributor's); None for other tenants."""
    actor = actor_of(user)
    if not (actor.is_staff or actor.tenant_type == TenantType.DISTRIBUTOR):
        return None
    pending = LicenseRequest.objects.visible_to(user).filter(state=RequestState.PENDING)
    return {
        "count": pending.count(),
        "rows": list(
            pending.select_related("location__organization", "partner", "distributor").order_by(
                "-created", "-id"
            )[:PENDING_REQUEST_ROWS]
        ),
        "url": f"{reverse('requests:list')}?{urlencode({'state': RequestState.PENDING.value})}",
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The start page after login: a summary of what the user's tenant sees."""
    user = request.user
    today = timezone.localdate(clock.now())
    context = {
        "status_cards": _status_cards(user),
        "ending_soon": _ending_soon(user, today),
        "recent_notices": _recent_notices(user),
        "pending_requests": _pending_requests(user),
        "today": today,
    }
    return render(request, "dashboard.html", context)
