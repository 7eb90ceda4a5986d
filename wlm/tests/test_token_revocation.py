"""A password change or a deactivation revokes the user's API tokens, whatever path did it.

The pages (change, reset by e-mail link), the admin (a new password, or none usable),
``set_password`` and ``save`` in code: each goes through the user's ``save``, where the
change is seen once. Django already ends the user's other sessions (the session carries a
hash of the password) and keeps the one that made the change. The data plane's lean path
refuses a revoked token within its one second of memory.
"""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from wlm.audit.models import AuditEntry, Kind
from wlm.conftest import PASSWORD, token_for
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import Clock, NotDjango, lean, path
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.tenancy.models import ApiToken

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-longer-passphrase-2026"
User = get_user_model()


class NewerMD5PasswordHasher(MD5PasswordHasher):
    """Stands for a newer hasher: passwords stored with MD5 are re-encoded at login."""

    algorithm = "md5_newer"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()


def token_of(user) -> str:
    return token_for(user)


def has_token(user) -> bool:
    """Whether the user holds a token that is not revoked."""
    return ApiToken.objects.filter(user=user, revoked__isnull=True).exists()


def token_works(api, key) -> bool:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/locations/").status_code == 200


def test_the_password_change_page_revokes_tokens_and_ends_the_other_sessions(
    client, django_user_model, world, api
):
    key = token_of(world.org_admin)
    assert token_works(api, key)
    elsewhere = type(client)()
    elsewhere.force_login(world.org_admin)
    client.force_login(world.org_admin)

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/password_change/done/")
    assert not has_token(world.org_admin)
    assert not token_works(api, key)
    assert client.get("/").status_code == 200  # the session that changed it stays
    assert elsewhere.get("/").status_code == 302  # the others are logged out


def test_a_password_reset_revokes_the_tokens(client, world, api):
    key = token_of(world.org_admin)
    uid = urlsafe_base64_encode(force_bytes(world.org_admin.pk))
    link = f"/accounts/reset/{uid}/{default_token_generator.make_token(world.org_admin)}/"
    form = client.get(link, follow=True)
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/reset/done/")
    assert not token_works(api, key)


@pytest.mark.parametrize(
    "data",
    [
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        {"usable_password": "false", "unset-password": "1"},  # the admin's disable button
    ],
    ids=["new password", "no usable password"],
)
def test_the_admin_changing_a_password_revokes_the_tokens(client, world, api, data):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    key = token_of(world.gateway)
    response = client.post(f"/admin/auth/user/{world.gateway.pk}/password/", data)
    assert response.status_code == 302, response.content[:500]
    assert not has_token(world.gateway)
    assert not token_works(api, key)


@pytest.mark.parametrize(
    "change",
    [
        lambda user: user.set_password(NEW_PASSWORD),
        lambda user: user.set_unusable_password(),
        lambda user: setattr(user, "password", make_password(NEW_PASSWORD)),
    ],
    ids=["set_password", "set_unusable_password", "hash assigned"],
)
def test_a_password_changed_in_code_revokes_the_tokens(world, change):
    token_of(world.org_admin)
    user = User.objects.get(pk=world.org_admin.pk)
    change(user)
    user.save()
    assert not has_token(world.org_admin)


def test_only_the_users_own_tokens_are_revoked(world):
    token_of(world.org_admin)
    token_of(world.org_viewer)
    world.org_admin.set_password(NEW_PASSWORD)
    world.org_admin.save()
    assert (has_token(world.org_admin), has_token(world.org_viewer)) == (False, True)


def test_a_token_login_after_a_change_hands_out_a_new_token(world, api):
    old = api().post("/api/v1/auth/token/", {"username": "org_admin", "password": PASSWORD})
    world.org_admin.set_password(NEW_PASSWORD)
    world.org_admin.save()
    new = api().post("/api/v1/auth/token/", {"username": "org_admin", "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert new.json()["token"] != old.json()["token"]
    assert token_works(api, new.json()["token"])
    assert not token_works(api, old.json()["token"])


def test_saving_other_fields_keeps_the_tokens(client, world, api, django_assert_num_queries):
    key = token_of(world.org_admin)
    user = User.objects.get(pk=world.org_admin.pk)
    user.email = "new@example.com"
    user.save()
    with django_assert_num_queries(1):  # a login's last_login: no look at the old hash
        user.save(update_fields=["last_login"])
    client.post("/accounts/login/", {"username": "org_admin", "password": PASSWORD})
    assert client.session.get("_auth_user_id") == str(user.pk)
    assert has_token(user) and token_works(api, key)


def test_a_hash_upgrade_at_login_keeps_the_tokens(client, world, api, settings):
    """Django re-encodes a password with a newer hasher when it checks it: same password."""
    key = token_of(world.org_admin)
    old_hash = User.objects.get(pk=world.org_admin.pk).password
    settings.PASSWORD_HASHERS = [
        f"{__name__}.NewerMD5PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    response = client.post("/accounts/login/", {"username": "org_admin", "password": PASSWORD})
    assert response.status_code == 302
    new_hash = User.objects.get(pk=world.org_admin.pk).password
    assert new_hash.startswith("md5_newer$") and new_hash != old_hash
    assert has_token(world.org_admin) and token_works(api, key)


def test_a_password_change_lifts_the_refusal_after_failed_logins(client, world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login_user": "2/hour",
        },
    }
    for n in range(2):
        client.post(
            "/accounts/login/",
            {"username": "org_admin", "password": "wrong"},
            REMOTE_ADDR=f"10.0.0.{n}",
        )
    data = {"username": "org_admin", "password": NEW_PASSWORD}
    assert client.post("/accounts/login/", data, REMOTE_ADDR="10.0.1.1").status_code == 429
    world.org_admin.set_password(NEW_PASSWORD)  # e.g. the owner's reset by e-mail
    world.org_admin.save()
    assert client.post("/accounts/login/", data, REMOTE_ADDR="10.0.1.1").status_code == 302


def test_the_lean_path_refuses_a_revoked_token_within_a_second(world):
    make_license(world, LicenseStatus.IN_USE, start=dt.date(2026, 6, 1))
    clock = Clock()
    front = DataPlaneFront(NotDjango(), Entitlements(monotonic=clock))
    auth = {"HTTP_AUTHORIZATION": f"Token {token_of(world.gateway)}"}
    assert lean(front, path(world.hotel), **auth)[0] == 200
    world.gateway.set_password(NEW_PASSWORD)
    world.gateway.save()
    clock.now += 1
    lean(front, path(world.hotel), **auth)
    assert front.django.calls == 1  # not answered by the lean path: Django refuses it


# --- named tokens through the lean path (wlm.dataplane.front.Tokens) -------------------------


def _front(world):
    make_license(world, LicenseStatus.IN_USE, start=dt.date(2026, 6, 1))
    clock = Clock()
    return DataPlaneFront(NotDjango(), Entitlements(monotonic=clock)), clock


def test_the_lean_path_refuses_a_token_revoked_through_the_api_within_a_second(world, api):
    front, clock = _front(world)
    key = token_for(world.gateway)
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert lean(front, path(world.hotel), **auth)[0] == 200
    token = ApiToken.objects.get(user=world.gateway, name="test")
    assert api(world.staff).post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == 200
    clock.now += 0.5
    assert lean(front, path(world.hotel), **auth)[0] == 200  # within its second: cached
    assert front.django.calls == 0
    clock.now += 0.5
    lean(front, path(world.hotel), **auth)
    assert front.django.calls == 1  # Django answers, and refuses it
    answer = api().get(path(world.hotel), HTTP_AUTHORIZATION=f"Token {key}")
    assert answer.status_code == 401
    # the lean path's refusal and Django's, the same minute: one entry in the log
    refused = AuditEntry.objects.filter(kind=Kind.TOKEN_REFUSED, object_id=str(token.pk))
    assert refused.count() == 1


def test_the_lean_path_refuses_an_expired_token_at_its_moment(world):
    """The expiry is known with the cached answer: not even a second late."""
    front, _clock = _front(world)
    moment = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        key = token_for(world.gateway, expires=moment + dt.timedelta(minutes=5))
        auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
        assert lean(front, path(world.hotel), **auth)[0] == 200
    with time_machine.travel(moment + dt.timedelta(minutes=5), tick=False):
        lean(front, path(world.hotel), **auth)
    assert front.django.calls == 1


def test_the_lean_path_notes_last_used_at_most_once_a_minute(world):
    front, clock = _front(world)
    key = token_for(world.gateway)
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    moment = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        assert lean(front, path(world.hotel), **auth)[0] == 200
    assert ApiToken.objects.get(user=world.gateway).last_used == moment
    for seconds in (2, 30, 59):  # each a new look-up (past the cache's second)
        clock.now += 2
        with time_machine.travel(moment + dt.timedelta(seconds=seconds), tick=False):
            assert lean(front, path(world.hotel), **auth)[0] == 200
    assert ApiToken.objects.get(user=world.gateway).last_used == moment
    clock.now += 2
    with time_machine.travel(moment + dt.timedelta(seconds=61), tick=False):
        assert lean(front, path(world.hotel), **auth)[0] == 200
    assert ApiToken.objects.get(user=world.gateway).last_used == moment + dt.timedelta(seconds=61)


def test_a_gateways_read_token_reads_the_entitlement_and_is_refused_radius(world):
    """The lean path applies the scope as Django does: the entitlement (a GET) is answered;
    FreeRADIUS's calls (POSTs) go to Django, which refuses them (403)."""
    from django.test import RequestFactory

    from wlm.dataplane.tests.test_front import served

    front, _clock = _front(world)
    key = token_for(world.gateway, scope="read")
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert lean(front, path(world.hotel), **auth)[0] == 200
    request = RequestFactory().post(
        "/api/v1/radius/authorize/",
        '{"called_station_id": "02-00-00-00-00-01:Guests"}',
        content_type="application/json",
        **auth,
    )
    served(front, request.environ)
    assert front.django.calls == 1
    client = APIClient()
    client.credentials(**auth)
    answer = client.post(
        "/api/v1/radius/authorize/", {"called_station_id": "02-00-00-00-00-01:Guests"}
    )
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/read-only-token")
