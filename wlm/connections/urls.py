"""The installer devices page."""

from django.urls import path

from wlm.connections import views

app_name = "connections"
urlpatterns = [
    path("installer-devices/", views.InstallerDeviceListView.as_view(), name="installer_devices"),
    path(
        "installer-devices/<int:pk>/remove/",
        views.remove_installer_device,
        name="remove_installer_device",
    ),
]
