"""The license-request pages (namespace ``requests``)."""

from django.urls import path

from wlm.licenses.views import requests as views

app_name = "requests"
urlpatterns = [
    path("requests/", views.RequestListView.as_view(), name="list"),
    path("requests/new/", views.request_new, name="new"),
    path("requests/<int:pk>/approve/", views.approve, name="approve"),
    path("requests/<int:pk>/reject/", views.reject, name="reject"),
]
