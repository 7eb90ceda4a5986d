"""The licenses pages: the list, the license view with its tabs, the certificate, and
the confirmation page of each action (DESIGN §6). Reads go through the tenancy door,
writes through the lifecycle and service functions, as in the API (wlm/licenses/api.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View

from wlm.connections.progress import start_progress
from wlm.lib import clock, languages
from wlm.lib.plans import MatchesFirstPaginator
from wlm.lib.problems import Conflict
from wlm.lib.views import ScopedListView, apply_service
from wlm.licenses import history, lifecycle, notices, services, signing, tokens
from wlm.licenses.dates import ENDING_SOON_DAYS, ending_soon
from wlm.licenses.filters import LicenseFilterSet
from wlm.licenses.forms.licenses import ACTION_FORMS
from wlm.licenses.models import (
    CHANGE_KINDS,
    EventKind,
    License,
    LicenseRequest,
    LicenseStatus,
    Module,
    RequestKind,
    RequestState,
    StartMode,
)
from wlm.licenses.pdf import certificate_response
from wlm.licenses.queries import assignments_with_counts, license_rows, with_location_names
from wlm.licenses.views.bulk import bulk_context
from wlm.locations.models import Location
from wlm.tenancy import saved_views
from wlm.tenancy.models import SavedList

TAB_PANEL_TARGET = "tab-panel"
DIALOG_TARGET = "dialog"
TABS = (
    ("general", _("General data")),
    ("modules", _("Platform modules")),
    ("upgrades", _("Upgrades")),
    ("notifications", _("Notifications")),
    ("assignments", _("Assignments")),
)
ACTION_LABELS = {
    "upgrade": _("Upgrade"),
    "renew": _("Renew"),
    "deny": _("Deny"),
    "restore": _("Restore"),
    "cancel": _("Cancel"),
    "assign": _("Assign a location"),
    "unassign": _("Unassign a location"),
}
# after an action, the tab that shows its effect
ACTION_TABS = {"assign": "assignments", "unassign": "assignments"}
# what the license's partner or organization asks its distributor for
ASK_LABELS = {RequestKind.RENEWAL: _("Request renewal"), RequestKind.UPGRADE: _("Request change")}


def _htmx_target(request) -> str | None:
    htmx = getattr(request, "htmx", None)
    return htmx.target if htmx else None


class LicenseListView(ScopedListView):
    """Licenses the user sees, with the API's FilterSet, ordering and CSV export."""

    model = License
    filterset_class = LicenseFilterSet
    # the API's ordering fields (the CSV link passes ``ordering`` on); APs and Rooms
    # both sort by the limit, Modules does not sort
    ordering_fields = ("key", "organization__name", "status", "start_date", "end_date", "limit")
    default_ordering = ("-created", "-id")
    paginator_class = MatchesFirstPaginator  # few matches: read first, then sorted
    api_url_name = "api:license-list"
    template_name = "licenses/license_list.html"
    results_template_name = "licenses/includes/license_results.html"
    saved_views_list = SavedList.LICENSES
    saved_views_store = saved_views

    def base_queryset(self):
        # the names of the Organization, Partner and Location columns in the page's query
        return with_location_names(license_rows().select_related("organization", "partner"))

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        today = timezone.localdate(clock.now())
        first, last = ending_soon(today)
        shortcuts = [
            (
                ngettext("Ending in %(days)s day", "Ending in %(days)s days", ENDING_SOON_DAYS)
                % {"days": ENDING_SOON_DAYS},
                {"end_after": first, "end_before": last},
            ),
            (_("Ended"), {"end_before": today}),
            (_("In use"), {"status": LicenseStatus.IN_USE}),
            (_("Pending start"), {"status": LicenseStatus.PENDING_START}),
            (_("Access denied"), {"status": LicenseStatus.ACCESS_DENIED}),
        ]
        # a shortcut replaces the filters (and keeps the order)
        ordering = {"ordering": context["ordering"]} if context["ordering"] else {}
        context["shortcuts"] = [
            (label, f"?{urlencode({**params, **ordering})}") for label, params in shortcuts
        ]
        context.update(bulk_context(self.request))  # the bulk bar (views/bulk.py)
        return context


def _license_or_404(request, pk: int, *prefetch, **annotations) -> License:
    """The license if the user sees it (else 404), with what its pages show and whether
    the user manages it (``managed``, for the buttons)."""
    rows = license_rows().select_related(
        "organization", "location", "distributor", "partner", "signed"
    )
    rows = rows.prefetch_related(*prefetch).visible_to(request.user).with_managed(request.user)
    return get_object_or_404(rows.annotate(**annotations), pk=pk)


def _change_facts(user) -> dict[str, Any]:
    """For the license view's one query: whether a renewal or upgrade of the license is
    waiting that the user sees (``changes_pending``), and whether the user asks for the
    license's changes (``asks_changes``)."""
    pending = LicenseRequest.objects.visible_to(user).filter(
        license=OuterRef("pk"), state=RequestState.PENDING, kind__in=CHANGE_KINDS
    )
    asked = License.objects.changes_asked_by(user).filter(pk=OuterRef("pk"))
    return {"changes_pending": Exists(pending), "asks_changes": Exists(asked)}


def _change_requests(license: License, user) -> dict[str, Any]:
    """The renewals and upgrades of the license waiting for its distributor (as the
    user sees requests), and the Request buttons the user may press: no query when none
    is waiting (``_change_facts`` said so in the license's query)."""
    pending = []
    if license.changes_pending:
        pending = list(
            LicenseRequest.objects.visible_to(user)
            .filter(license=license, state=RequestState.PENDING, kind__in=CHANGE_KINDS)
            .select_related("distributor")
            .prefetch_related("add_modules", "remove_modules")
            .order_by("created", "pk")
        )
    kinds = services.askable_changes(
        license, user, pending=[r.kind for r in pending], asks=license.asks_changes
    )
    return {
        "pending_changes": pending,
        "may_decide": bool(pending) and services.may_decide(user),
        "ask_changes": [
            (kind, ASK_LABELS[kind], reverse(f"requests:{kind}", args=[license.pk]))
            for kind in kinds
        ],
    }


def _tab_context(tab: str, license: License, user) -> dict[str, Any]:
    """Only what the shown tab needs, so each tab costs its own queries only."""
    if tab == "general":
        rows = list(assignments_with_counts(license))
        return {
            "aps_used": sum(row.access_point_count for row in rows),
            "rooms_used": sum(row.room_count for row in rows),
            "term": history.term(license),
        }
    if tab == "modules":
        enabled = {module.code for module in license.modules.all()}
        return {
            "catalogue": [
                (module, module.code in enabled) for module in Module.objects.order_by("code")
            ]
        }
    if tab == "upgrades":
        kinds = dict(EventKind.choices)
        events = list(license.events.order_by("at", "id"))
        names = history.Names(events, user)
        return {
            "events": [
                (
                    event,
                    history.actor(event, names),
                    kinds.get(event.kind, event.kind),
                    history.changes(event, names),
                )
                for event in events
            ]
        }
    if tab == "notifications":
        return {"notices": notices.reader().lines(license, user)}
    assignments = list(assignments_with_counts(license))
    now = clock.now()
    for assignment in assignments:  # the row's "In installation" badge
        assignment.location.installation_active = assignment.location.in_installation(now)
    return {"assignments": assignments}


def _in_installation(license: License) -> list[Location]:
    """The license's locations in installation now: the header says why the devices seen
    there do not count (docs/connections.md). One query, for a pending license only."""
    now = clock.now()
    rows = Location.objects.filter(assignments__license=license, installation_since__isnull=False)
    return [location for location in rows.order_by("name", "id") if location.in_installation(now)]


class LicenseDetailView(LoginRequiredMixin, View):
    """The license view: header, actions by role, and one tab at a time (``?tab=``);
    an htmx request for ``#tab-panel`` gets the panel and the tab bar only."""

    def get(self, request, pk: int):
        tab = request.GET.get("tab", "general")
        if tab not in dict(TABS):
            tab = "general"
        # the notices and their deliveries in one query, as the API's license view
        prefetch = [notices.reader().prefetch()] if tab == "notifications" else []
        htmx_tab = _htmx_target(request) == TAB_PANEL_TARGET
        facts = {} if htmx_tab else _change_facts(request.user)  # the header's, below
        license = _license_or_404(request, pk, *prefetch, **facts)
        actions = lifecycle.available_actions(license, request.user, managed=license.managed)
        context = {
            "license": license,
            "tab": tab,
            "tabs": TABS,
            "actions": [
                (action, ACTION_LABELS[action], reverse(f"licenses:{action}", args=[license.pk]))
                for action in actions
                if action != "unassign"  # per location, in the Assignments tab
            ],
            "can_unassign": "unassign" in actions,
            "can_assign": "assign" in actions,
            **_tab_context(tab, license, request.user),
        }
        if htmx_tab:
            return render(request, "licenses/includes/tab_panel.html", context)
        token = tokens.latest(license)  # the header's verify link
        context.update(token=token, fingerprint=signing.fingerprint(token))
        context.update(_change_requests(license, request.user))
        if (
            license.status == LicenseStatus.PENDING_START
            and license.start_mode == StartMode.AUTOMATIC
        ):
            # the header's start progress: the devices the intake counted so far
            context["progress"] = start_progress([license.pk])[license.pk]
            context["installations"] = _in_installation(license)
        return render(request, "licenses/license_detail.html", context)


class LicensePdfView(LoginRequiredMixin, View):
    """The certificate, as the API's ``pdf`` action serves it."""

    def get(self, request, pk: int):
        try:
            language = languages.asked(request.GET.get("language"))
        except ValidationError:
            raise BadRequest("unknown language") from None
        return certificate_response(_license_or_404(request, pk), language)


class LicenseActionView(LoginRequiredMixin, View):
    """GET: the confirmation form of one action; POST: apply it through its service.

    A role that may not take the action gets the 403 page (also on GET); a status that
    does not allow it shows the lifecycle's refusal on the form. An htmx GET aimed at
    ``#dialog`` gets the form inside a ``<dialog>``; it posts like the plain page.
    """

    action = ""

    def _prepare(self, request, pk: int):
        if self.action not in ACTION_FORMS:
            raise Http404
        license = _license_or_404(request, pk)
        try:  # the actor first: PermissionDenied is the 403 page
            lifecycle.check(license, self.action, request.user)
            refusal = None
        except Conflict as error:
            refusal = str(error.detail)
        return license, refusal

    def _form(self, license, data=None, initial=None):
        return ACTION_FORMS[self.action](
            data, license=license, user=self.request.user, initial=initial
        )

    def _render(self, request, license, form, refusal, status=200):
        template = (
            "licenses/includes/action_dialog.html"
            if _htmx_target(request) == DIALOG_TARGET
            else "licenses/license_action.html"
        )
        context = {
            "license": license,
            "form": form,
            "action": self.action,
            "refusal": refusal,
        }
        return render(request, template, context, status=status)

    def get(self, request, pk: int):
        license, refusal = self._prepare(request, pk)
        initial = {}
        if self.action == "unassign" and request.GET.get("location"):
            initial["location"] = request.GET["location"]
        return self._render(request, license, self._form(license, initial=initial), refusal)

    def post(self, request, pk: int):
        license, _refusal = self._prepare(request, pk)
        form = self._form(license, data=request.POST)
        if form.is_valid() and apply_service(form, form.act) is not None:
            messages.success(request, form.done)
            url = reverse("licenses:detail", args=[license.pk])
            tab = ACTION_TABS.get(self.action)
            return HttpResponseRedirect(f"{url}?tab={tab}" if tab else url)
        return self._render(request, license, form, None, status=400)
