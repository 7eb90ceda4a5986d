"""The license-request pages (namespace ``requests``)."""

from django.urls import path

from wlm.lib.saved_views import DeleteViewPage, SaveViewPage
from wlm.licenses.models import RequestKind
from wlm.licenses.views import requests as views

app_name = "requests"
urlpatterns = [
    path("requests/", views.RequestListView.as_view(), name="list"),
    # saved views of the list (wlm/lib/saved_views.py)
    path(
        "requests/views/", SaveViewPage.as_view(list_view=views.RequestListView), name="views-save"
    ),
    path(
        "requests/views/<int:pk>/delete/",
        DeleteViewPage.as_view(list_view=views.RequestListView),
        name="views-delete",
    ),
    path("requests/new/", views.request_new, name="new"),
    # a renewal or an upgrade of license <pk>, asked by its partner or organization
    path(
        "requests/renewal/<int:pk>/",
        views.request_change,
        {"kind": RequestKind.RENEWAL},
        name="renewal",
    ),
    path(
        "requests/upgrade/<int:pk>/",
        views.request_change,
        {"kind": RequestKind.UPGRADE},
        name="upgrade",
    ),
    path("requests/<int:pk>/approve/", views.approve, name="approve"),
    path("requests/<int:pk>/reject/", views.reject, name="reject"),
]
