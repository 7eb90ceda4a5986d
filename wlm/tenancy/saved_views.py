"""Saved views: a user's named filters of a list (``SavedView``), and the only functions
that read and write them. Each is the user's own: another user's view is missing (404),
whoever asks, staff included.

The pages that offer them (the "Views" menu of the licenses, locations and requests
lists) are ``wlm.lib.saved_views``; they check the query against the list's FilterSet
before calling ``save``.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from wlm.lib.problems import save_unique
from wlm.tenancy.models import SavedView

DUPLICATE = _("You already have a view with this name on this list.")


def views_of(user, list_name: str) -> QuerySet:
    """The user's views of one list, by name (the unique constraint's index)."""
    return SavedView.objects.visible_to(user).filter(list_name=list_name).order_by("name", "id")


def save(user, list_name: str, name: str, query: str) -> SavedView:
    """A new view; a name the user already gave a view of this list is a ``Conflict``
    (409) from the unique constraint, also when a concurrent request took it first."""
    view = SavedView(owner=user, list_name=list_name, name=name, query=query)
    view.full_clean(exclude=["owner"], validate_unique=False, validate_constraints=False)
    save_unique(view, DUPLICATE)
    return view


def delete(user, list_name: str, pk: int) -> SavedView:
    """Delete the user's view ``pk`` of the list; another user's (or another list's) is
    a 404, like a missing one."""
    view = get_object_or_404(views_of(user, list_name), pk=pk)
    view.delete()
    return view
