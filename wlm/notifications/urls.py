"""The inbox pages and the tenant's settings page (docs/settings.md)."""

from django.urls import path

from wlm.notifications import views

app_name = "notifications"
urlpatterns = [
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("inbox/<int:pk>/read/", views.mark_read, name="read"),
    path("settings/", views.settings_home, name="settings_home"),
    path("settings/<str:tenant_type>/<int:pk>/", views.tenant_settings, name="settings"),
    path(
        "settings/<str:tenant_type>/<int:pk>/webhook-secret/",
        views.rotate_secret,
        name="rotate_secret",
    ),
    path("settings/<str:tenant_type>/<int:pk>/test/", views.send_test, name="send_test"),
]
