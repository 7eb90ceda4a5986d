"""The inbox pages."""

from django.urls import path

from wlm.notifications import views

app_name = "notifications"
urlpatterns = [
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("inbox/<int:pk>/read/", views.mark_read, name="read"),
]
