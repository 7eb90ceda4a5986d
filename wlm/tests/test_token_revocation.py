"""A password change revokes the user's API tokens, whatever path changed it.

The pages (change, reset by e-mail link), the admin (a new password, or none usable),
``set_password`` and ``save`` in code: each goes through the user's ``save``, where the
change is seen once. Django already ends the user's other sessions (the session carries a
hash of the password) and keeps the one that made the change. The data plane's lean path
refuses a revoked token within its one second of memory.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from wlm.conftest import PASSWORD
from wlm.dataplane.cache import Entitlements
from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import Clock, NotDjango, lean, path
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license

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
    return Token.objects.get_or_create(user=user)[0].key


def has_token(user) -> bool:
    return Token.objects.filter(user=user).exists()


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


def test_saving_other_fields_keeps_the_tokens(client, world, django_assert_num_queries):
    key = token_of(world.org_admin)
    user = User.objects.get(pk=world.org_admin.pk)
    user.email = "new@example.com"
    user.save()
    with django_assert_num_queries(1):  # a login's last_login: no look at the old hash
        user.save(update_fields=["last_login"])
    client.post("/accounts/login/", {"username": "org_admin", "password": PASSWORD})
    assert client.session.get("_auth_user_id") == str(user.pk)
    assert Token.objects.get(user=user).key == key


def test_a_hash_upgrade_at_login_keeps_the_tokens(client, world, settings):
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
    assert Token.objects.get(user=world.org_admin).key == key


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
