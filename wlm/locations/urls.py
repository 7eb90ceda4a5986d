"""The locations pages."""

from django.urls import path

from wlm.lib.saved_views import DeleteViewPage, SaveViewPage
from wlm.locations import views

app_name = "locations"
urlpatterns = [
    path("locations/", views.LocationListView.as_view(), name="list"),
    # saved views of the list (wlm/lib/saved_views.py)
    path(
        "locations/views/",
        SaveViewPage.as_view(list_view=views.LocationListView),
        name="views-save",
    ),
    path(
        "locations/views/<int:pk>/delete/",
        DeleteViewPage.as_view(list_view=views.LocationListView),
        name="views-delete",
    ),
    path("locations/<uuid:pk>/send-key/", views.SendKeyView.as_view(), name="send_key"),
    path(
        "locations/<uuid:pk>/installation/",
        views.InstallationView.as_view(),
        name="installation",
    ),
]
