"""The locations pages."""

from django.urls import path

from wlm.locations import views

app_name = "locations"
urlpatterns = [
    path("locations/", views.LocationListView.as_view(), name="list"),
    path("locations/<uuid:pk>/send-key/", views.SendKeyView.as_view(), name="send_key"),
]
