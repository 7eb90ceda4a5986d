"""The dashboard: what needs a look today, counted through the tenancy door.

Licenses by status, the licenses ending in each of the next 12 months by status (a chart,
``chart.py``), the renewals due in 30, 60 and 90 days, those ending soon
(``dates.ending_soon``), the licenses pending an automatic start closest to starting
(``connections.progress``), those near their limit (``licenses.filters.near_limit``), the
latest notices and the license requests waiting for a decision (a distributor's queue;
the renewals and upgrades a partner or an organization asked for). A fixed number of
queries, whatever the number of rows; each figure links to the licenses list filtered to
the same rows (docs/pages.md, "Dashboard").
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, FloatField, Window
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format

from wlm.connections.queries import closest_to_start, start_progress
from wlm.dashboard import chart
from wlm.lib import clock
from wlm.licenses.dates import ENDING_SOON_DAYS, ending_soon
from wlm.licenses.filters import NEAR_LIMIT_PERCENT, near_limit
from wlm.licenses.models import (
    CHANGE_KINDS,
    License,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    RequestState,
    StartMode,
)
from wlm.notifications import messages
from wlm.notifications.filters import ShownState, with_shown_state
from wlm.notifications.models import Notice
from wlm.notifications.services import inbox_of
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import actor_of

ENDING_SOON_ROWS = 10
RECENT_NOTICES = 5
PENDING_REQUEST_ROWS = 5
RENEWAL_WINDOWS = (30, 60, 90)  # days
# A license "due for renewal": started and not finalized (the renewal's own sources
# include a finalized one, renewed after its end, no longer "due").
RENEWABLE = (LicenseStatus.IN_USE, LicenseStatus.ACCESS_DENIED)
PENDING_START_ROWS = 10
# a status card counts up to this many licenses, then shows "more than"
STATUS_COUNT_LIMIT = 10_000
NEAR_LIMIT_ROWS = 10


def _status_cards(user) -> list[dict]:
    """Each status's licenses, counted up to ``STATUS_COUNT_LIMIT`` (then "more than"):
    one query per status that reads at most that many index entries, whatever the
    tenant's size (a platform's million licenses are not counted on every visit)."""
    visible = License.objects.visible_to(user).order_by()
    cards = []
    for status, label in LicenseStatus.choices:
        counted = visible.filter(status=status)[: STATUS_COUNT_LIMIT + 1].count()
        cards.append(
            {
                "status": status,
                "label": label,
                "count": min(counted, STATUS_COUNT_LIMIT),
                "capped": counted > STATUS_COUNT_LIMIT,
                # 10,000 in English, 10.000 in Spanish
                "shown": number_format(min(counted, STATUS_COUNT_LIMIT), force_grouping=True),
                "url": _list_url(status=status),
            }
        )
    return cards


def _list_url(**query) -> str:
    return f"{reverse('licenses:list')}?{urlencode(query, doseq=True)}"


def _ending_by_day(user, first: dt.date, last: dt.date) -> dict[tuple[dt.date, str], int]:
    """{(end date, status): licenses} of the visible licenses ending from ``first`` to
    ``last``: one grouped query, read from the ``(status, end_date)`` index alone (every
    status is named so that the index serves the range). The chart, the renewals due and
    the count of those ending soon are sums of it."""
    rows = (
        License.objects.visible_to(user)
        .filter(status__in=LicenseStatus.values, end_date__gte=first, end_date__lte=last)
        .order_by()
        .values("status", "end_date")
        .annotate(n=Count("*"))
        .values_list("end_date", "status", "n")
    )
    return {(end_date, status): n for end_date, status, n in rows}


def _ending_chart(by_day: dict, today: dt.date) -> chart.Chart:
    """Licenses ending in each month from today to the end of the 12th month, by status."""
    by_month: dict[tuple[dt.date, str], int] = {}
    for (end_date, status), n in by_day.items():
        key = (end_date.replace(day=1), status)
        by_month[key] = by_month.get(key, 0) + n
    # the labels translated once, not in each of the table's 65 cells
    statuses = [(status, str(label)) for status, label in LicenseStatus.choices]
    return chart.build(by_month, today, statuses, reverse("licenses:list"))


def _renewals_due(by_day: dict, today: dt.date) -> list[dict]:
    """Licenses in use (or denied) ending within 30, 60 and 90 days (from today on)."""
    windows = []
    for days in RENEWAL_WINDOWS:
        until = today + dt.timedelta(days=days)
        count = sum(
            n
            for (end_date, status), n in by_day.items()
            if status in RENEWABLE and today <= end_date <= until
        )
        url = _list_url(
            status=list(RENEWABLE), end_after=today.isoformat(), end_before=until.isoformat()
        )
        windows.append({"days": days, "until": until, "count": count, "url": url})
    return windows


def _ending_soon(user, by_day: dict, today: dt.date) -> dict:
    first, until = ending_soon(today)
    # the rows shown end by the day on which the first ENDING_SOON_ROWS have ended (the
    # counts by day say which): only those are read and sorted, not the whole month's
    per_day: dict[dt.date, int] = {}
    for (end_date, _status), n in by_day.items():
        if first <= end_date <= until:
            per_day[end_date] = per_day.get(end_date, 0) + n
    last, seen = first, 0
    for day in sorted(per_day):
        last, seen = day, seen + per_day[day]
        if seen >= ENDING_SOON_ROWS:
            break
    # every status named: the (status, end_date) index serves the range
    licenses = License.objects.visible_to(user).filter(
        status__in=LicenseStatus.values, end_date__gte=first, end_date__lte=last
    )
    query = urlencode({"end_after": first.isoformat(), "end_before": until.isoformat()})
    return {
        "rows": list(
            licenses.select_related("organization", "location__organization").order_by(
                "end_date", "key"
            )[:ENDING_SOON_ROWS]
        ),
        "count": sum(per_day.values()),
        "url": f"{reverse('licenses:list')}?{query}",
        "until": until,
        "days": ENDING_SOON_DAYS,
    }


def _pending_start(user) -> dict:
    """The licenses pending an automatic start with the most devices seen (then the most
    recent device), filled up with those still waiting for their first device (the
    oldest licenses first: the primary key's order, which needs no sort), each with its
    ``StartProgress``."""
    pending = License.objects.visible_to(user).filter(
        status=LicenseStatus.PENDING_START, start_mode=StartMode.AUTOMATIC
    )
    ranked = closest_to_start(pending, PENDING_START_ROWS)
    rows = pending.select_related("organization", "location")
    by_id = {license.pk: license for license in rows.filter(pk__in=ranked)} if ranked else {}
    licenses = [by_id[pk] for pk in ranked if pk in by_id]
    if len(licenses) < PENDING_START_ROWS:
        licenses += list(
            rows.exclude(pk__in=ranked).order_by("pk")[: PENDING_START_ROWS - len(licenses)]
        )
    progress = start_progress([license.pk for license in licenses])
    for license in licenses:
        license.progress = progress[license.pk]
    return {
        "rows": licenses,
        "url": _list_url(status=LicenseStatus.PENDING_START),
    }


def _near_limit(user) -> dict:
    """The licenses near their limit, fullest first: the count (a window over the same
    rows) and the first ``NEAR_LIMIT_ROWS``, in one query."""
    rows = list(
        near_limit(License.objects.visible_to(user))
        .select_related("organization")
        .annotate(
            share=Cast("used", FloatField()) / F("limit"),
            total=Window(Count("pk")),
        )
        .order_by("-share", "-used", "key")[:NEAR_LIMIT_ROWS]
    )
    for license in rows:
        license.rooms_license = license.license_type == LicenseType.ROOMS
        license.percent = min(round(license.share * 100), 999)
    return {
        "rows": rows,
        "count": rows[0].total if rows else 0,
        "percent": NEAR_LIMIT_PERCENT,
        "url": _list_url(near_limit="true"),
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
    """The requests waiting for a decision: a distributor's queue (staff: every
    distributor's), every kind; for a partner or an organization, the renewals and
    upgrades asked for its licenses (its requests for new licenses are on the requests
    page). None for other users."""
    actor = actor_of(user)
    deciding = actor.is_staff or actor.tenant_type == TenantType.DISTRIBUTOR
    if not deciding and actor.tenant_type not in (TenantType.PARTNER, TenantType.ORGANIZATION):
        return None
    pending = LicenseRequest.objects.visible_to(user).filter(state=RequestState.PENDING)
    query = {"state": RequestState.PENDING.value}
    if not deciding:
        pending = pending.filter(kind__in=CHANGE_KINDS)
        query["kind"] = [str(kind) for kind in CHANGE_KINDS]
    # the newest ids and the count (a window over the same rows) from the requests alone,
    # then those few rows with their names: joined first, PostgreSQL hashed every location
    # before picking the newest few
    newest = list(
        pending.annotate(total=Window(Count("pk")))
        .order_by("-created", "-id")
        .values_list("pk", "total")[:PENDING_REQUEST_ROWS]
    )
    rows = (
        pending.filter(pk__in=[pk for pk, _total in newest])
        .select_related("location__organization", "partner", "distributor")
        .prefetch_related("add_modules", "remove_modules")
        # the key of a change's license where the user sees it, as the requests page
        .annotate(license_key=License.objects.shown_through("license", user, "key"))
        .order_by("-created", "-id")
    )
    return {
        "deciding": deciding,
        "count": newest[0][1] if newest else 0,
        "rows": list(rows) if newest else [],
        "url": f"{reverse('requests:list')}?{urlencode(query, doseq=True)}",
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The start page after login: a summary of what the user's tenant sees."""
    user = request.user
    today = timezone.localdate(clock.now())
    # the days from today to the end of the chart's last month: they hold the renewal
    # windows and "ending soon" too
    months = chart.months(today)
    by_day = _ending_by_day(user, months[0].first, months[-1].last)
    ending = _ending_chart(by_day, today)
    context = {
        "status_cards": _status_cards(user),
        "ending_chart": ending,
        "ending_chart_svg": chart.svg(ending) if ending.total else "",
        "renewals_due": _renewals_due(by_day, today),
        "ending_soon": _ending_soon(user, by_day, today),
        "pending_start": _pending_start(user),
        "near_limit": _near_limit(user),
        "recent_notices": _recent_notices(user),
        "pending_requests": _pending_requests(user),
        "today": today,
    }
    return render(request, "dashboard.html", context)
