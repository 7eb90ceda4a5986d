"""Saved views on the list pages (docs/pages.md, "Lists and exports"): the "Views" menu
of a list (open, delete, "Save this view") and its two POST pages.

A list page (``ScopedListView``) offers them when it names its list
(``saved_views_list``) and the functions that keep them (``saved_views_store``: the
module ``wlm.tenancy.saved_views``, handed over by the list's own app, as lib imports
no app). Its URLs declare ``views/`` (``SaveViewPage``) and ``views/<pk>/delete/``
(``DeleteViewPage``) under the list, named ``views-save`` and ``views-delete`` in the
list's namespace.

A query is saved only when the list's FilterSet accepts it (the same check as the page
and the API), with only the list's filters and ``ordering`` among its sortable fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from wlm.lib.problems import Conflict
from wlm.lib.validators import validate_one_line

MAX_QUERY = 2000
DROPPED = ("page",)  # where the list was, not what it shows


def clean_query(list_view, request: HttpRequest, raw: str) -> str:
    """``raw`` (a list's query string) as it is stored, without its empty fields and the
    page; or a ``ValidationError`` saying which filter is wrong: unknown names, an
    ordering the list does not sort by, and anything the list's FilterSet refuses (an
    invisible organization is unknown)."""
    given = QueryDict(raw.lstrip("?"))
    params = QueryDict(mutable=True)
    for name, values in given.lists():
        kept = [value for value in values if value != ""]  # an empty field filters nothing
        if kept and name not in DROPPED:
            params.setlist(name, kept)
    if not params and given:
        # all filters empty, on purpose: "q=" keeps the view from being the bare list,
        # which a distributor's requests list turns into its queue of pending requests
        params["q"] = ""
    filterset_class = list_view.filterset_class
    problems = []
    unknown = sorted(set(params) - set(filterset_class.base_filters) - {"ordering"})
    if unknown:
        problems.append(gettext("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)})
    for value in params.getlist("ordering"):
        if value.lstrip("-") not in list_view.ordering_fields:
            problems.append(
                gettext("This list cannot be sorted by “%(field)s”.") % {"field": value}
            )
    filterset = filterset_class(
        data=params, queryset=list_view.model._default_manager.none(), request=request
    )
    if not filterset.is_valid():
        for name, errors in filterset.errors.items():
            field = filterset.form.fields.get(name)
            label = str(field.label) if field is not None and field.label else name
            problems += [f"{label}: {error}" for error in errors]
    if problems:
        raise ValidationError(problems)
    query = params.urlencode()
    if len(query) > MAX_QUERY:
        raise ValidationError(gettext("These filters are too long to be saved."))
    return query


def _list_url(namespace: str, query: str = "") -> str:
    url = reverse(f"{namespace}:list")
    return f"{url}?{query}" if query else url


def _return_query(request: HttpRequest) -> str:
    """The list's query to go back to (the ``query`` field), re-encoded: only ever a
    query string of the list's own URL."""
    params = QueryDict(request.POST.get("query", "").lstrip("?"), mutable=True)
    for name in DROPPED:
        params.pop(name, None)
    return params.urlencode()


def menu(list_view) -> dict[str, Any] | None:
    """The "Views" menu of a list page: the user's views (each with its link and its
    delete URL), the save URL and the current query. None when the list offers none."""
    store = list_view.saved_views_store
    if store is None:
        return None
    request = list_view.request
    namespace = request.resolver_match.namespace
    query = request.GET.copy()
    for name in DROPPED:
        query.pop(name, None)
    return {
        "views": [
            (
                view,
                _list_url(namespace, view.query),
                reverse(f"{namespace}:views-delete", args=[view.pk]),
            )
            for view in store.views_of(request.user, list_view.saved_views_list)
        ],
        "save_url": reverse(f"{namespace}:views-save"),
        "query": query.urlencode(),
    }


class SaveViewForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the view"), max_length=100, validators=[validate_one_line]
    )
    query = forms.CharField(required=False, widget=forms.HiddenInput)


class _ViewsPage(LoginRequiredMixin, View):
    list_view = None  # the list page's class (its FilterSet, sortable fields, store)

    def namespace(self) -> str:
        return self.request.resolver_match.namespace

    def store(self):
        return self.list_view.saved_views_store


class SaveViewPage(_ViewsPage):
    """GET: the "Save this view" form for ``?query=``; POST: save it and open the list
    with it. A bad filter is a 400 and a name the user already gave a view of this list
    a 409, on the form; nothing is stored."""

    template_name = "includes/save_view.html"

    def render_form(self, form: SaveViewForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "list_url": _list_url(self.namespace(), form["query"].value() or ""),
            "list_label": self.list_view.model._meta.verbose_name_plural,
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, **kwargs) -> HttpResponse:
        return self.render_form(SaveViewForm(initial={"query": request.GET.get("query", "")}))

    def post(self, request: HttpRequest, **kwargs) -> HttpResponse:
        form = SaveViewForm(request.POST)
        if not form.is_valid():
            return self.render_form(form, status=400)
        try:
            query = clean_query(self.list_view, request, form.cleaned_data["query"])
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
            return self.render_form(form, status=400)
        try:
            view = self.store().save(
                request.user, self.list_view.saved_views_list, form.cleaned_data["name"], query
            )
        except Conflict as conflict:
            form.add_error("name", str(conflict.detail))
            return self.render_form(form, status=409)
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
            return self.render_form(form, status=400)
        messages.success(request, gettext("View saved: %(name)s") % {"name": view.name})
        return redirect(_list_url(self.namespace(), view.query))


class DeleteViewPage(_ViewsPage):
    """POST: delete one of the user's views of this list (another user's is a 404) and
    go back to the list as it was (the ``query`` field)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        view = self.store().delete(request.user, self.list_view.saved_views_list, pk)
        messages.success(request, gettext("View deleted: %(name)s") % {"name": view.name})
        return redirect(_list_url(self.namespace(), _return_query(request)))
