"""Fixtures shared by every app's tests: a small world of tenants and people.

The people (healthchecks' Alice, Bob and Charlie, by tenant and role):
- staff, staff_viewer, gateway — the platform operator and the data plane;
- dist_admin, dist_viewer (distributor ``dist``), other_dist_admin (``other_dist``);
- partner_admin, partner_viewer (``partner``, works with ``dist``), other_partner_admin
  (``other_partner``, works with ``other_dist`` only);
- org_admin, org_viewer (``org``, customer of ``partner``), other_org_admin (``other_org``,
  customer of ``other_partner``).
"""

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from wlm.locations.models import AccessPoint, Location, Room
from wlm.tenancy.models import Distributor, Membership, Organization, Partner, Role, TenantType

PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config):
    """Static files straight from the apps' folders: no `collectstatic` before tests.

    `make run` collects them into a hashed manifest (production storage); the tests
    serve the same files through WhiteNoise's finders instead.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    settings.STATIC_ROOT = Path(tempfile.mkdtemp(prefix="wlm-static-"))


def make_user(username: str, tenant_type: str, tenant=None, role: str = Role.ADMIN):
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )
    Membership.objects.create(
        user=user,
        tenant_type=tenant_type,
        role=role,
        **({tenant_type: tenant} if tenant is not None else {}),
    )
    return user


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2's deliberate slowness is for attackers, not for the test suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    dist = Distributor.objects.create(name="Dist", email="dist@example.com")
    other_dist = Distributor.objects.create(name="Other Dist", email="other@example.com")
    partner = Partner.objects.create(name="Partner", email="partner@example.com")
    partner.distributors.add(dist)
    other_partner = Partner.objects.create(name="Other Partner", email="op@example.com")
    other_partner.distributors.add(other_dist)
    org = Organization.objects.create(name="Org", partner=partner, email="org@example.com")
    other_org = Organization.objects.create(name="Other Org", partner=other_partner)
    hotel = Location.objects.create(
        organization=org,
        name="Hotel",
        sector="hospitality",
        timezone="Europe/Madrid",
        address="Calle 1",
        country="ES",
    )
    shop = Location.objects.create(
        organization=org,
        name="Shop",
        sector="retail",
        timezone="Pacific/Auckland",
        address="Queen St 2",
        country="NZ",
    )
    other_office = Location.objects.create(
        organization=other_org,
        name="Office",
        sector="office",
        timezone="Europe/Lisbon",
        address="Rua 3",
        country="PT",
    )
    AccessPoint.objects.create(location=hotel, mac="02:00:00:00:00:01", name="Lobby")
    AccessPoint.objects.create(location=other_office, mac="02:00:00:00:00:02", name="Desk")
    Room.objects.create(location=hotel, number="101")
    people = SimpleNamespace(
        staff=make_user("staff", TenantType.STAFF),
        staff_viewer=make_user("staff_viewer", TenantType.STAFF, role=Role.VIEWER),
        gateway=make_user("gateway", TenantType.STAFF, role=Role.GATEWAY),
        dist_admin=make_user("dist_admin", TenantType.DISTRIBUTOR, dist),
        dist_viewer=make_user("dist_viewer", TenantType.DISTRIBUTOR, dist, Role.VIEWER),
        other_dist_admin=make_user("other_dist_admin", TenantType.DISTRIBUTOR, other_dist),
        partner_admin=make_user("partner_admin", TenantType.PARTNER, partner),
        partner_viewer=make_user("partner_viewer", TenantType.PARTNER, partner, Role.VIEWER),
        other_partner_admin=make_user("other_partner_admin", TenantType.PARTNER, other_partner),
        org_admin=make_user("org_admin", TenantType.ORGANIZATION, org),
        org_viewer=make_user("org_viewer", TenantType.ORGANIZATION, org, Role.VIEWER),
        other_org_admin=make_user("other_org_admin", TenantType.ORGANIZATION, other_org),
    )
    return SimpleNamespace(
        dist=dist,
        other_dist=other_dist,
        partner=partner,
        other_partner=other_partner,
        org=org,
        other_org=other_org,
        hotel=hotel,
        shop=shop,
        other_office=other_office,
        people=people,
        **vars(people),
    )


@pytest.fixture
def api():
    """``api(user)``: an API client that authenticates as ``user`` with its token."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for
