"""URL map: the pages, the REST API under /api/v1/ with its schema and docs, the admin."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

from wlm.audit.api import AuditViewSet
from wlm.connections.api import ConnectionsView, InstallerDeviceViewSet
from wlm.dashboard.views import dashboard
from wlm.dataplane.api import RadiusAccountingView, RadiusAuthorizeView
from wlm.lib.headers import REDOC_POLICY
from wlm.licenses.api import (
    ActivateView,
    EntitlementView,
    LicenseRequestViewSet,
    LicenseViewSet,
    ModuleViewSet,
)
from wlm.licenses.views import bulk_api as license_bulk_api
from wlm.licenses.views import public as public_views
from wlm.locations.api import (
    AccessPointViewSet,
    InstallationView,
    LocationViewSet,
    RoomViewSet,
)
from wlm.notifications.api import InboxViewSet, NotificationViewSet
from wlm.tenancy import language
from wlm.tenancy import views as tenancy_views
from wlm.tenancy.api import (
    ApiTokenViewSet,
    DistributorViewSet,
    OrganizationViewSet,
    PartnerViewSet,
    TokenView,
    UserViewSet,
)

router = SimpleRouter()
router.register("distributors", DistributorViewSet, basename="distributor")
router.register("partners", PartnerViewSet, basename="partner")
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("users", UserViewSet, basename="user")
router.register("tokens", ApiTokenViewSet, basename="api-token")
router.register("modules", ModuleViewSet, basename="module")
router.register("locations", LocationViewSet, basename="location")
router.register("license-requests", LicenseRequestViewSet, basename="license-request")
router.register("licenses", LicenseViewSet, basename="license")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("inbox", InboxViewSet, basename="inbox")
router.register("audit", AuditViewSet, basename="audit")
router.register("installer-devices", InstallerDeviceViewSet, basename="installer-device")

location_router = SimpleRouter()
location_router.register("access-points", AccessPointViewSet, basename="access-point")
location_router.register("rooms", RoomViewSet, basename="room")

api_v1 = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start script as a file of its own (the split view): the pages' policy
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Redoc writes its styles into the page and makes a worker: its own policy (docs/pages.md)
    path(
        "redoc/",
        csp_update(REDOC_POLICY)(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
    path(
        "locations/<uuid:location_pk>/entitlement/",
        EntitlementView.as_view(),
        name="entitlement",
    ),
    path("connections/", ConnectionsView.as_view(), name="connections"),
    path("radius/authorize/", RadiusAuthorizeView.as_view(), name="radius-authorize"),
    path("radius/accounting/", RadiusAccountingView.as_view(), name="radius-accounting"),
    path("locations/<uuid:location_pk>/activate/", ActivateView.as_view(), name="activate"),
    path(
        "locations/<uuid:location_pk>/installation/",
        InstallationView.as_view(),
        name="installation",
    ),
    path("locations/<uuid:location_pk>/", include(location_router.urls)),
    *license_bulk_api.urlpatterns,  # /licenses/bulk/…: bulk changes (before the router's)
    *router.urls,
]

urlpatterns = [
    # the pages (templates/, docs/pages.md): the same services and tenancy door as the API
    path("", dashboard, name="dashboard"),
    # public, outside the API: the keys that verify signed licenses offline, and the page
    path(".well-known/jwks.json", public_views.jwks, name="jwks"),
    path("verify/", public_views.verify, name="verify"),
    # the login and reset pages behind the throttles (wlm.tenancy.throttles), then Django's
    path("accounts/login/", tenancy_views.site_login, name="login"),
    path(
        "accounts/password_reset/",
        tenancy_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # the header's language switch and the user's profile (wlm/tenancy/language.py)
    path("language/", language.switch, name="switch_language"),
    path("profile/", language.profile, name="profile"),
    # the user's API tokens (wlm/tenancy/tokens.py): made, listed, revoked
    path("tokens/", tenancy_views.api_tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", tenancy_views.revoke_api_token, name="revoke_token"),
    # the users of an admin's tenants: invited, their role changed, deactivated
    path("users/", tenancy_views.users, name="users"),
    path("users/<int:pk>/role/", tenancy_views.change_user_role, name="change_user_role"),
    path("users/<int:pk>/deactivate/", tenancy_views.deactivate_user, name="deactivate_user"),
    # public: the invitation's one-time link (wlm/tenancy/invitations.py)
    path(
        "invitation/<uidb64>/<token>/",
        tenancy_views.accept_invitation,
        name="accept_invitation",
    ),
    path("", include("wlm.locations.urls")),
    path("", include("wlm.licenses.urls")),
    path("", include("wlm.licenses.request_urls")),
    path("", include("wlm.notifications.urls")),
    path("", include("wlm.audit.urls")),
    path("", include("wlm.connections.urls")),
    path("api/v1/", include((api_v1, "api"))),
    path("admin/login/", tenancy_views.admin_login),  # the admin's, answering 429 when throttled
    path("admin/", admin.site.urls),
]

handler400 = "wlm.lib.problems.handler400"
handler403 = "wlm.lib.problems.handler403"
handler404 = "wlm.lib.problems.handler404"
handler500 = "wlm.lib.problems.handler500"
