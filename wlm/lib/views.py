"""Base classes of the pages: every page reads through the tenancy door, lists filter
with the API's FilterSet, and forms hand their data to the same service functions.

A list page is a declaration (NetBox): its queryset, its FilterSet, the fields it may
sort by and its templates. The CSV export of a page is the API's own ``?format=csv``
with the page's query string, so both give exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django_filters.views import FilterView
from rest_framework.exceptions import APIException

from wlm.lib import saved_views
from wlm.lib.filters import ordering_terms
from wlm.lib.pagination import CappedPaginator

PAGE_SIZE = 25
HTMX_RESULTS_TARGET = "results"


class ScopedListView(LoginRequiredMixin, FilterView):
    """A list page: rows visible to the user, filtered, sorted and paginated.

    htmx requests that target ``#results`` get only the results fragment, so the
    filters, sort headers and pager refresh the table without a page load.
    """

    model = None
    filterset_class = None
    ordering_fields: tuple[str, ...] = ()
    default_ordering: tuple[str, ...] = ()
    paginate_by = PAGE_SIZE
    paginator_class = CappedPaginator  # counts stop at COUNT_LIMIT rows, as in the API
    api_url_name: str | None = None  # the API list whose ``?format=csv`` exports the rows
    results_template_name: str | None = None
    # the "Views" menu (wlm/lib/saved_views.py): the list's name, the functions that keep
    # the views (wlm.tenancy.saved_views, handed over by the list's app)
    saved_views_list: str = ""
    saved_views_store = None

    def base_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        rows = self.base_queryset().visible_to(self.request.user)
        return rows.order_by(*self.get_ordering(rows))

    def get_ordering(self, rows=None) -> tuple:
        """``?ordering=field`` or ``-field`` among ``ordering_fields``; else the default.

        An unknown field falls back to the default order (a page is lenient where the
        API answers 400). A chosen field sorts as in the API and the CSV
        (``ordering_terms``: empty values last both ways, ties by id).
        """
        value = self.request.GET.get("ordering", "")
        if value.lstrip("-") in self.ordering_fields:
            if rows is None:
                rows = self.base_queryset()
            return tuple(ordering_terms(rows, [value]))
        return self.default_ordering

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kw):
        paginator = super().get_paginator(queryset, per_page, orphans, allow_empty_first_page, **kw)
        if self.request.GET.get(self.page_kwarg) == "last":
            paginator.limit = None  # the last page needs the full count (as in the API)
        return paginator

    def current_ordering(self) -> str:
        value = self.request.GET.get("ordering", "")
        return value if value.lstrip("-") in self.ordering_fields else ""

    def csv_url(self) -> str | None:
        if self.api_url_name is None:
            return None
        query = self.request.GET.copy()
        query.pop("page", None)
        query["format"] = "csv"
        return f"{reverse(self.api_url_name)}?{query.urlencode()}"

    def filter_chosen(self, filterset, name: str) -> dict[str, Any]:
        """``?<name>=<id>`` (a link, a saved view): the row it selects, for the page to show
        by name (``<name>_chosen``) with a link that drops it (``without_<name>_query``);
        the panel filters by name otherwise."""
        form = filterset.form
        form.is_valid()  # validated already (the rows); a bad filter elsewhere keeps this one
        chosen = getattr(form, "cleaned_data", {}).get(name)  # unbound: none
        if chosen is None:
            return {f"{name}_chosen": None}
        query = self.request.GET.copy()
        for dropped in (name, "page"):
            query.pop(dropped, None)
        return {f"{name}_chosen": chosen, f"without_{name}_query": query.urlencode()}

    def get_context_data(self, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["ordering"] = self.current_ordering()
        context["csv_url"] = self.csv_url()
        context["saved_views"] = saved_views.menu(self)
        context["filters_active"] = any(
            value for key, value in self.request.GET.items() if key not in ("page", "ordering")
        )
        return context

    def get_template_names(self) -> list[str]:
        htmx = getattr(self.request, "htmx", None)
        if htmx and htmx.target == HTMX_RESULTS_TARGET and self.results_template_name:
            return [self.results_template_name]
        return super().get_template_names()


def apply_service(form, call: Callable[[], Any]) -> Any | None:
    """Run ``call`` (a service function) for a valid ``form``; the rule's refusal goes
    onto the form as errors, so the page shows it and nothing stored changed.

    Returns what ``call`` returned, or None when it refused. ``PermissionDenied`` is not
    caught: a write the role may not make is a 403 page, as in the API.
    """
    try:
        return call()
    except DjangoValidationError as error:
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                general = field in ("non_field_errors", NON_FIELD_ERRORS)
                for message in messages:
                    if field in form.fields:
                        form.add_error(field, message)
                    else:  # a rule about a value the form does not show by that name
                        form.add_error(None, message if general else f"{field}: {message}")
        else:
            for message in error.messages:
                form.add_error(None, message)
    except APIException as error:  # Conflict (409) and the other refusals of the rules
        form.add_error(None, str(error.detail))
    return None
