"""Bulk actions on the licenses list (docs/pages.md, "Bulk actions"): the bar's choice
opens one confirmation page ("Renew 1,000 licenses by 1 year?"); confirming freezes the
licenses in a job (``wlm.licenses.bulk``) and opens the job's page, which polls its
progress (htmx, every second) until it is finished and lists each license's result.
An export is not a job: the confirmation answers with the CSV."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views import View

from wlm.lib.csv import csv_response
from wlm.lib.views import apply_service
from wlm.licenses import bulk
from wlm.licenses.forms.bulk import ACTION_CHOICES, EXPORT, BulkForm
from wlm.licenses.models import BulkAction, BulkJob, BulkOutcome, License
from wlm.licenses.queries import LICENSE_CSV
from wlm.tenancy.scoping import actor_of

JOB_TARGET = "bulk-job"
RESULTS_PER_PAGE = 50
PREVIEW_KEYS = 10
SUBMIT_LABELS = {
    BulkAction.RENEW: _("Renew"),
    BulkAction.DENY: _("Deny access"),
    BulkAction.RESTORE: _("Restore access"),
    BulkAction.CANCEL: _("Cancel the licenses"),
    EXPORT: _("Download CSV"),
}
DANGER = {BulkAction.DENY, BulkAction.CANCEL}


def bulk_context(request) -> dict[str, Any]:
    """What the licenses list needs for its bulk bar: the actions the user's role may
    take (the export for everyone who sees licenses) and the list's filters as a query
    string (for "all matching")."""
    query = request.GET.copy()
    for name in ("page", "ordering"):
        query.pop(name, None)
    changes = bulk.offered(request.user)
    offered = set(changes) | {EXPORT}
    return {
        "bulk_actions": [(value, label) for value, label in ACTION_CHOICES if value in offered],
        "bulk_filters": query.urlencode(),
        "bulk_years": range(1, 6),
        # the jobs page, for who may start a job, and for staff, who read everyone's
        "bulk_jobs_url": reverse("licenses:bulk-jobs")
        if changes or actor_of(request.user).is_staff
        else "",
    }


def _require_right(request, action: str | None) -> None:
    """The 403 page for a change the role may not take, before anything is read."""
    if action in bulk.APPLY and not bulk.may(request.user, action):
        raise PermissionDenied(_("Your role cannot make this change to a license."))


def _question(action: str, count: int | None, years: int | None) -> str:
    if action == EXPORT:
        if count is None:
            return str(_("Export the licenses matching the filters as CSV?"))
        return ngettext(
            "Export %(count)s license as CSV?", "Export %(count)s licenses as CSV?", count
        ) % {"count": f"{count:,}"}
    return bulk.question(action, count, years)


def _filters_shown(filterset) -> list[tuple[str, str]]:
    """The list's filters in use, as "label: value" pairs for the confirmation page."""
    if filterset is None:
        return []
    shown = []
    for name, field in filterset.form.fields.items():
        values = filterset.form.data.getlist(name)
        if any(values):
            shown.append((str(field.label or name), ", ".join(v for v in values if v)))
    return shown


class BulkView(LoginRequiredMixin, View):
    """GET: the confirmation page of the bar's choice; POST: confirm it — a job (then its
    page), or the CSV of an export. A role that may not take the change gets the 403
    page; a choice that does not hold (no rows, rows not seen, bad years, no reason) comes
    back with its errors (400) and nothing is stored."""

    def get(self, request):
        _require_right(request, request.GET.get("action"))
        form = BulkForm(request.GET, request=request)
        return self._confirmation(request, form, 200 if form.is_valid() else 400)

    def post(self, request):
        _require_right(request, request.POST.get("action"))
        form = BulkForm(request.POST, request=request, confirming=True)
        if not form.is_valid():
            return self._confirmation(request, form, 409 if form.count_changed else 400)
        data = form.cleaned_data
        if data["action"] == EXPORT:
            return _export(request, form)
        job = apply_service(
            form,
            lambda: bulk.create_job(
                request.user,
                data["action"],
                form.ids,
                years=data["years"],
                reason=data["reason"],
                filters=data["filters"] if data["all"] else "",
            ),
        )
        if job is None:
            return self._confirmation(request, form, 400)
        bulk.run_inline(job)
        return HttpResponseRedirect(reverse("licenses:bulk-job", args=[job.pk]))

    def _confirmation(self, request, form: BulkForm, status: int):
        data = getattr(form, "cleaned_data", {})
        action = data.get("action")
        # the choice holds (a reason to give, or a new count to confirm, aside)
        choice = ("action", "years", "id", "all", "filters", NON_FIELD_ERRORS)
        valid_choice = action is not None and not any(name in form.errors for name in choice)
        count = None if form.ids is None else len(form.ids)
        context = {
            "form": form,
            "problems": form.problems(),
            "action": action,
            "question": _question(action, count, data.get("years")) if valid_choice else "",
            "submit_label": SUBMIT_LABELS.get(action, _("Confirm")),
            "danger": action in DANGER,
            "asks_reason": action in bulk.APPLY,
            "hidden": form.hidden_values() if valid_choice else [],
            "all": bool(data.get("all")),
            "filters_shown": _filters_shown(form.filterset),
            "preview": _preview(request, form.ids) if valid_choice and form.ids else [],
            "more": max(0, (count or 0) - PREVIEW_KEYS),
            "back": f"{reverse('licenses:list')}?{data.get('filters') or ''}".rstrip("?"),
        }
        return render(request, "licenses/bulk_confirm.html", context, status=status)


def _preview(request, ids: list[int]) -> list[License]:
    """The first licenses of the choice, by key, so the page says which ones."""
    first = ids[:PREVIEW_KEYS]
    return list(License.objects.visible_to(request.user).filter(pk__in=first).order_by("pk"))


def _export(request, form: BulkForm) -> StreamingHttpResponse:
    """The CSV of the chosen licenses: the columns and cells of the list's Export CSV
    (the API's ``?format=csv``, ``queries.LICENSE_CSV``), in the list's default order."""
    rows = License.objects.visible_to(request.user).order_by("-created", "-id")
    if form.ids is None:
        rows = form.filterset.filter_queryset(rows)
    else:
        rows = rows.filter(pk__in=form.ids)
    return csv_response(LICENSE_CSV.lines(rows), "licenses")


# --- The jobs page ---------------------------------------------------------------------

JOBS_PER_PAGE = 25
JOBS_TARGET = "bulk-jobs"


class BulkJobListView(LoginRequiredMixin, View):
    """The bulk jobs the user asked for, newest first, each with its state and progress
    and a link to its results; staff see everyone's, with who asked. While a job on the
    page is not finished the list asks for itself again every few seconds (htmx)."""

    def get(self, request):
        staff = actor_of(request.user).is_staff
        jobs = BulkJob.objects.visible_to(request.user).order_by("-created", "-id")
        if staff:
            jobs = jobs.select_related("owner")
        page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
        rows = [(job, _job_title(job)) for job in page]
        context = {
            "page_obj": page,
            "rows": rows,
            "staff": staff,
            "running": any(not job.is_finished for job in page),
        }
        htmx = getattr(request, "htmx", None)
        if htmx and htmx.target == JOBS_TARGET:
            return render(request, "licenses/includes/bulk_jobs_table.html", context)
        return render(request, "licenses/bulk_jobs.html", context)


# --- A job's page ---------------------------------------------------------------------

OUTCOME_FILTERS = (
    ("", _("All")),
    (BulkOutcome.DONE, _("Done")),
    (BulkOutcome.REFUSED, _("Refused")),
)


def job_items(job: BulkJob, user, outcome: str = ""):
    """The job's items in the job's order, each with the license's key where the user
    still sees the license (else NULL: the tenancy door, on the joined row)."""
    items = job.items.annotate(key=License.objects.shown_through("license", user, "key"))
    if outcome:
        items = items.filter(outcome=outcome)
    return items.order_by("id")


class BulkJobView(LoginRequiredMixin, View):
    """A job's progress and results; its owner's (staff read every job; anyone else: 404).
    While the job is not finished the panel asks for itself again every second (htmx),
    and a page without script refreshes itself."""

    def get(self, request, pk: int):
        job = get_object_or_404(BulkJob.objects.visible_to(request.user), pk=pk)
        outcome = request.GET.get("outcome", "")
        if outcome not in dict(OUTCOME_FILTERS):
            outcome = ""
        page = Paginator(job_items(job, request.user, outcome), RESULTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        query = f"?outcome={outcome}" if outcome else ""
        results_csv = reverse("api:license-bulk-results", args=[job.pk])
        context = {
            "job": job,
            "title": _job_title(job),
            "outcome": outcome,
            "outcome_filters": [
                (value, label, _count(job, value), f"?outcome={value}" if value else "?")
                for value, label in OUTCOME_FILTERS
            ],
            "page_obj": page,
            "csv_url": f"{results_csv}?format=csv" + (f"&outcome={outcome}" if outcome else ""),
            "query": query,
        }
        htmx = getattr(request, "htmx", None)
        if htmx and htmx.target == JOB_TARGET:
            return render(request, "licenses/includes/bulk_job_panel.html", context)
        return render(request, "licenses/bulk_job.html", context)


def _count(job: BulkJob, outcome: str) -> int:
    return {"": job.total, BulkOutcome.DONE: job.done, BulkOutcome.REFUSED: job.refused}[outcome]


def _job_title(job: BulkJob) -> str:
    """ "Renew by 2 years: 1,000 licenses"."""
    count = ngettext("%(count)s license", "%(count)s licenses", job.total) % {
        "count": f"{job.total:,}"
    }
    action = BulkAction(job.action).label
    if job.years:
        return _("%(action)s by %(years)s: %(count)s") % {
            "action": action,
            "years": bulk.years_words(job.years),
            "count": count,
        }
    return _("%(action)s: %(count)s") % {"action": action, "count": count}
