"""The audit log's page."""

from django.urls import path

from wlm.audit import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.AuditListView.as_view(), name="list"),
]
