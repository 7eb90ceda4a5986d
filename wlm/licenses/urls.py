"""The licenses pages: the list, the license view, its certificate and its actions."""

from django.urls import path

from wlm.licenses.forms.licenses import ACTION_FORMS
from wlm.licenses.views.licenses import (
    LicenseActionView,
    LicenseDetailView,
    LicenseListView,
    LicensePdfView,
)

app_name = "licenses"
urlpatterns = [
    path("licenses/", LicenseListView.as_view(), name="list"),
    path("licenses/<int:pk>/", LicenseDetailView.as_view(), name="detail"),
    path("licenses/<int:pk>/pdf/", LicensePdfView.as_view(), name="pdf"),
    # one confirmation page per action: licenses:upgrade, licenses:renew, licenses:deny…
    *(
        path(f"licenses/<int:pk>/{action}/", LicenseActionView.as_view(action=action), name=action)
        for action in ACTION_FORMS
    ),
]
