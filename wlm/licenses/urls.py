"""The licenses pages: the list, the license view, its certificate and its actions."""

from django.urls import path

from wlm.lib.saved_views import DeleteViewPage, SaveViewPage
from wlm.licenses.forms.licenses import ACTION_FORMS
from wlm.licenses.views.bulk import BulkJobListView, BulkJobView, BulkView
from wlm.licenses.views.licenses import (
    LicenseActionView,
    LicenseDetailView,
    LicenseListView,
    LicensePdfView,
)

app_name = "licenses"
urlpatterns = [
    path("licenses/", LicenseListView.as_view(), name="list"),
    # saved views of the list (wlm/lib/saved_views.py)
    path("licenses/views/", SaveViewPage.as_view(list_view=LicenseListView), name="views-save"),
    path(
        "licenses/views/<int:pk>/delete/",
        DeleteViewPage.as_view(list_view=LicenseListView),
        name="views-delete",
    ),
    # bulk actions from the list: the confirmation, then the job's progress and results
    path("licenses/bulk/", BulkView.as_view(), name="bulk"),
    path("licenses/bulk/jobs/", BulkJobListView.as_view(), name="bulk-jobs"),
    path("licenses/bulk/<int:pk>/", BulkJobView.as_view(), name="bulk-job"),
    path("licenses/<int:pk>/", LicenseDetailView.as_view(), name="detail"),
    path("licenses/<int:pk>/pdf/", LicensePdfView.as_view(), name="pdf"),
    # one confirmation page per action: licenses:upgrade, licenses:renew, licenses:deny…
    *(
        path(f"licenses/<int:pk>/{action}/", LicenseActionView.as_view(action=action), name=action)
        for action in ACTION_FORMS
    ),
]
