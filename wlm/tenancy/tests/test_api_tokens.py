"""API tokens (wlm/tenancy/tokens.py; docs/api.md, "Authentication"): named, scoped,
expiring, hashed, revocable; ``/api/v1/tokens/``, ``POST /auth/token/`` and the page."""

import datetime as dt
import hashlib
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from wlm.conftest import PASSWORD, token_for
from wlm.lib import clock
from wlm.tenancy import tokens
from wlm.tenancy.models import ApiToken

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
User = get_user_model()


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def problem(answer) -> str:
    """The problem's type, by its last segment (``token-revoked``)."""
    assert answer["Content-Type"] == "application/problem+json"
    return answer.json()["type"].rsplit("/", 1)[-1]


def columns_of(token: ApiToken) -> list[str]:
    """Every stored value of the token's row, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table} WHERE id = %s", [token.pk])
        return [str(value) for value in cursor.fetchone()]


# --- made once, stored hashed ------------------------------------------------------------


def test_the_secret_is_shown_once_and_stored_only_as_its_digest(world, api):
    created = api(world.org_admin).post(
        "/api/v1/tokens/", {"name": "Billing", "scope": "read"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert "no-store" in created["Cache-Control"]
    body = created.json()
    key = body["token"]
    assert key.startswith("wlm_") and len(key) >= 40
    assert (body["name"], body["scope"], body["prefix"]) == ("Billing", "read", key[:12])
    token = ApiToken.objects.get(pk=body["id"])
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in value for value in columns_of(token))
    # never again: not in the list, the detail, nor the revocation's answer
    owner = api(world.org_admin)
    for answer in (
        owner.get("/api/v1/tokens/"),
        owner.get(f"/api/v1/tokens/{token.pk}/"),
        owner.get("/api/v1/tokens/?format=csv"),
        owner.post(f"/api/v1/tokens/{token.pk}/revoke/"),
    ):
        assert answer.status_code == 200
        text = b"".join(answer.streaming_content if answer.streaming else [answer.content])
        assert key not in text.decode()
        assert key[12:] not in text.decode()


def test_a_token_works_until_revoked_and_is_refused_with_a_clear_problem(world, api):
    key = token_for(world.org_admin)
    client = client_with(key)
    assert client.get("/api/v1/locations/").status_code == 200
    token = tokens.find(key)
    assert api(world.org_admin).delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    refused = client.get("/api/v1/locations/")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert refused["WWW-Authenticate"] == "Token"
    assert problem(refused) == "token-revoked"
    assert refused.json()["detail"] == "This token has been revoked."
    token.refresh_from_db()
    assert token.revoked is not None  # the row stays: who had what, until when


def test_an_expired_token_is_refused(world, api):
    with time_machine.travel(NOW, tick=False):
        key = token_for(world.org_admin, expires=NOW + dt.timedelta(days=1))
        assert client_with(key).get("/api/v1/locations/").status_code == 200
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        refused = client_with(key).get("/api/v1/locations/")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert (problem(refused), refused.json()["detail"]) == (
        "token-expired",
        "This token has expired.",
    )


def test_an_expiry_in_the_past_is_refused_when_made(world, api):
    with time_machine.travel(NOW, tick=False):
        answer = api(world.org_admin).post(
            "/api/v1/tokens/", {"name": "x", "expires_at": "2026-05-01T00:00:00Z"}, format="json"
        )
    assert answer.status_code == 400
    assert "expires_at" in answer.json()["errors"]


def test_an_unknown_token_is_refused(world):
    refused = client_with("wlm_" + "x" * 43).get("/api/v1/locations/")
    assert refused.status_code == 401 and problem(refused) == "token-unknown"


def test_a_read_token_reads_and_is_refused_a_change(world):
    key = token_for(world.org_admin, scope="read")
    client = client_with(key)
    assert client.get(f"/api/v1/locations/{world.hotel.pk}/").status_code == 200
    refused = client.patch(
        f"/api/v1/locations/{world.hotel.pk}/", {"address": "New 1"}, format="json"
    )
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert problem(refused) == "read-only-token"
    world.hotel.refresh_from_db()
    assert world.hotel.address != "New 1"
    # a read token cannot make a write token either, nor revoke itself
    assert client.post("/api/v1/tokens/", {"name": "w"}, format="json").status_code == 403
    token = tokens.find(key)
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 403
    token.refresh_from_db()
    assert token.revoked is None


def test_a_read_token_keeps_the_language_of_its_user(world):
    membership = world.org_viewer.membership
    membership.language = "es"
    membership.save()
    refused = client_with(token_for(world.org_viewer, scope="read")).post(
        "/api/v1/tokens/", {"name": "w"}, format="json"
    )
    assert refused.status_code == 403
    assert refused["Content-Language"] == "es"


def test_a_write_token_has_no_more_than_the_role(world):
    client = client_with(token_for(world.org_viewer, scope="write"))
    refused = client.patch(f"/api/v1/locations/{world.hotel.pk}/", {"address": "x"}, format="json")
    assert refused.status_code == 403 and problem(refused) == "permission-denied"


def test_an_inactive_users_token_is_refused(world):
    key = token_for(world.org_admin)
    User.objects.filter(pk=world.org_admin.pk).update(is_active=False)  # not through save
    refused = client_with(key).get("/api/v1/locations/")
    assert refused.status_code == 401 and problem(refused) == "user-inactive"


# --- last used: at most once a minute -----------------------------------------------------


def test_last_used_is_written_at_most_once_a_minute(world, django_assert_num_queries):
    key = token_for(world.org_admin)
    client = client_with(key)
    with time_machine.travel(NOW, tick=False):
        client.get("/api/v1/modules/")
    token = tokens.find(key)
    assert token.last_used == NOW
    with time_machine.travel(NOW + dt.timedelta(seconds=59), tick=False):
        with django_assert_num_queries(0):  # the row just read says it is fresh: no UPDATE
            tokens.touch(token, clock.now())
        client.get("/api/v1/modules/")
    assert tokens.find(key).last_used == NOW
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        client.get("/api/v1/modules/")
    assert tokens.find(key).last_used == NOW + dt.timedelta(seconds=61)


def test_touch_writes_only_a_stale_row(world):
    """Two processes that both read the row stale: the UPDATE's own condition lets one
    write."""
    token, _key = tokens.issue(world.org_admin, "x")
    first, second = ApiToken.objects.get(pk=token.pk), ApiToken.objects.get(pk=token.pk)
    tokens.touch(first, NOW)
    tokens.touch(second, NOW + dt.timedelta(seconds=5))  # its copy still said "never"
    assert ApiToken.objects.get(pk=token.pk).last_used == NOW


# --- POST /auth/token/ ----------------------------------------------------------------------


def test_the_token_endpoint_makes_a_new_named_token_each_call(world):
    client = APIClient()
    data = {"username": "org_admin", "password": PASSWORD}
    first = client.post("/api/v1/auth/token/", data, HTTP_USER_AGENT="billing/1.0")
    second = client.post("/api/v1/auth/token/", {**data, "name": "CRM", "scope": "read"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert "no-store" in first["Cache-Control"]
    one, two = first.json(), second.json()
    assert one["token"] != two["token"]
    assert (one["name"], one["scope"]) == ("billing/1.0", "write")
    assert (two["name"], two["scope"]) == ("CRM", "read")
    assert client_with(one["token"]).get("/api/v1/locations/").status_code == 200
    assert ApiToken.objects.filter(user=world.org_admin).count() == 2


def test_keys_of_drfs_former_tokens_keep_working(world):
    """Migration 0010 moves each key of ``authtoken_token`` into a hashed row and drops
    the table: the client holding the key is still served."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("wlm.tenancy.migrations.0010_api_tokens")
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [old_key, connection.ops.adapt_datetimefield_value(NOW), world.org_admin.pk],
        )
    # the migration's schema editor, as far as the function uses it (SQLite's cannot open
    # inside the test's transaction)
    editor = SimpleNamespace(
        connection=connection,
        execute=lambda sql: connection.cursor().execute(sql),
        quote_name=connection.ops.quote_name,
    )
    migration.move_legacy_keys(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = tokens.find(old_key)
    assert (token.user, token.scope, token.prefix) == (world.org_admin, "write", old_key[:12])
    assert not any(old_key in value for value in columns_of(token))
    assert client_with(old_key).get("/api/v1/locations/").status_code == 200


# --- who sees and revokes whose tokens ----------------------------------------------------


def test_the_list_is_scoped_by_the_tenancy_door(world, api):
    made = {
        name: tokens.issue(getattr(world, name), f"{name}'s")[0]
        for name in ("org_admin", "org_viewer", "other_org_admin", "partner_admin", "staff")
    }

    def listed(person):
        answer = api(getattr(world, person)).get("/api/v1/tokens/", {"page_size": 100})
        assert answer.status_code == 200
        return {row["name"] for row in answer.json()["results"]} - {"test"}

    assert listed("org_viewer") == {"org_viewer's"}
    assert listed("org_admin") == {"org_admin's", "org_viewer's"}
    assert listed("partner_admin") == {"partner_admin's", "org_admin's", "org_viewer's"}
    assert listed("other_org_admin") == {"other_org_admin's"}
    assert listed("dist_admin") == set()
    assert listed("staff_viewer") == {f"{name}'s" for name in made}
    assert listed("staff") == {f"{name}'s" for name in made}


def test_revoking_follows_the_door(world, api):
    token = tokens.issue(world.org_viewer, "viewer's")[0]
    url = f"/api/v1/tokens/{token.pk}/revoke/"
    assert api().post(url).status_code == 401
    for outsider in ("other_org_admin", "dist_admin", "gateway"):
        assert api(getattr(world, outsider)).post(url).status_code == 404, outsider
    assert api(world.staff_viewer).post(url).status_code == 403  # sees every token
    token.refresh_from_db()
    assert token.revoked is None
    with time_machine.travel(NOW, tick=False):
        answer = api(world.org_admin).post(url)
    assert answer.status_code == 200 and answer.json()["state"] == "revoked"
    later = api(world.org_viewer).post(url)  # a second time keeps the first moment
    assert later.status_code == 200 and later.json()["revoked_at"] == answer.json()["revoked_at"]


def test_a_viewer_and_the_gateway_make_their_own_tokens(world, api):
    for person in ("org_viewer", "gateway"):
        made = api(getattr(world, person)).post("/api/v1/tokens/", {"name": "mine"}, format="json")
        assert made.status_code == 201, made.content
        assert ApiToken.objects.get(pk=made.json()["id"]).user == getattr(world, person)


def test_a_deactivated_user_loses_tokens_and_sessions(client, world, api):
    key = token_for(world.org_admin)
    client.force_login(world.org_admin)
    assert client.get("/").status_code == 200
    user = User.objects.get(pk=world.org_admin.pk)
    user.is_active = False
    user.save()
    assert not ApiToken.objects.filter(user=user, revoked__isnull=True).exists()
    assert problem(client_with(key).get("/api/v1/locations/")) == "token-revoked"
    assert client.get("/").status_code == 302  # the session no longer logs in


def test_the_state_filter(world, api):
    with time_machine.travel(NOW, tick=False):
        tokens.issue(world.org_admin, "soon", expires=NOW + dt.timedelta(hours=1))
        revoked = tokens.issue(world.org_admin, "gone")[0]
        tokens.revoke(world.org_admin, revoked)
        tokens.issue(world.org_admin, "kept")
    client = api(world.org_admin)
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):

        def names(state):
            rows = client.get("/api/v1/tokens/", {"state": state}).json()["results"]
            return {row["name"] for row in rows}

        assert names("expired") == {"soon"}
        assert names("revoked") == {"gone"}
        assert names("active") == {"kept", "test"}  # "test": the client's own
        ordered = client.get("/api/v1/tokens/", {"ordering": "-expires_at"}).json()["results"]
        assert ordered[0]["name"] == "soon"  # the others never expire: last


# --- the page (/tokens/) ----------------------------------------------------------------------


def test_the_page_makes_a_token_and_shows_its_secret_once(client, world):
    client.force_login(world.org_viewer)
    page = client.get("/tokens/")
    assert page.status_code == 200
    assert 'data-testid="tokens-link"' in page.content.decode()  # in the user's menu
    with time_machine.travel(NOW, tick=False):
        made = client.post("/tokens/", {"name": "CRM", "scope": "read", "expires_in": "30"})
    assert made.status_code == 200
    token = ApiToken.objects.get(user=world.org_viewer, name="CRM")
    assert (token.scope, token.expires) == ("read", NOW + dt.timedelta(days=30))
    html = made.content.decode()
    secret = html.split('data-testid="token-secret">', 1)[1].split("<", 1)[0]
    assert tokens.find(secret) == token
    again = client.get("/tokens/").content.decode()
    assert secret not in again and secret[12:] not in again
    assert f"{token.prefix}…" in again


def test_the_page_refuses_a_bad_form(client, world):
    client.force_login(world.org_admin)
    refused = client.post("/tokens/", {"name": "two\nlines", "scope": "admin"})
    assert refused.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_page_shows_an_admin_their_users_tokens(client, world):
    tokens.issue(world.org_viewer, "viewer's")
    tokens.issue(world.other_org_admin, "elsewhere")
    client.force_login(world.org_admin)
    html = client.get("/tokens/").content.decode()
    assert 'data-testid="other-tokens"' in html and "viewer&#x27;s" in html
    assert "elsewhere" not in html
    client.force_login(world.org_viewer)
    html = client.get("/tokens/").content.decode()
    assert 'data-testid="other-tokens"' not in html and "viewer&#x27;s" in html


def test_the_revocation_asks_first_and_works_without_script(client, world):
    token = tokens.issue(world.org_admin, "CRM")[0]
    client.force_login(world.org_admin)
    confirm = client.get(f"/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200 and 'data-testid="revoke-page"' in confirm.content.decode()
    dialog = client.get(
        f"/tokens/{token.pk}/revoke/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dialog"
    )
    assert "<dialog" in dialog.content.decode() and "<html" not in dialog.content.decode()
    token.refresh_from_db()
    assert token.revoked is None  # asking changes nothing
    done = client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    assert done.status_code == 200
    token.refresh_from_db()
    assert token.revoked is not None
    assert "CRM" in done.content.decode()  # the message names it


def test_the_command_prints_a_new_tokens_secret(world):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("create_token", "gateway", "--name", "make radius", "--scope", "write", stdout=out)
    token = tokens.find(out.getvalue().strip())
    assert (token.user, token.name, token.scope, token.expires) == (
        world.gateway,
        "make radius",
        "write",
        None,
    )
    with pytest.raises(CommandError):
        call_command("create_token", "nobody", stdout=StringIO())
