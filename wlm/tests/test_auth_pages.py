"""Logging in and out of the pages, and the password reset by e-mail (a real SMTP server)."""

import re

import pytest
from django.contrib.auth import get_user_model

from wlm.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-longer-passphrase-2026"


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/licenses/?status=in_use")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/licenses/%3Fstatus%3Din_use"


def test_login_page_is_plain_html_with_a_csrf_token(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_wrong_password_is_refused_with_a_clear_message(client, world):
    response = client.post(
        "/accounts/login/", {"username": "dist_admin", "password": "not-the-password"}
    )
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_login_shows_the_tenant_and_the_role(client, world):
    response = client.post(
        "/accounts/login/", {"username": "dist_viewer", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    who = re.search(rb'data-testid="who">(.*?)</li>', response.content, re.S).group(1)
    assert b"dist_viewer" in who
    assert world.dist.name.encode() in who
    assert b"Distributor" in who and b"Viewer" in who


def test_login_goes_back_to_the_page_asked_for(client, world):
    response = client.post(
        "/accounts/login/?next=/licenses/",
        {"username": "org_admin", "password": PASSWORD, "next": "/licenses/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/licenses/"


def test_login_does_not_redirect_to_another_site(client, world):
    response = client.post(
        "/accounts/login/",
        {"username": "org_admin", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_logout_needs_a_post_and_ends_the_session(client, world):
    client.force_login(world.org_admin)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_password_reset_by_email(client, world, smtp):
    response = client.post("/accounts/password_reset/", {"email": world.org_admin.email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"

    (mail,) = smtp.to(world.org_admin.email)
    assert mail.message["Subject"] == "Reset your WiFi License Manager password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.message.get_content())
    assert link, mail.message.get_content()

    form = client.get(link.group(1), follow=True)  # Django swaps the token for a session
    assert form.status_code == 200
    assert b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"

    user = get_user_model().objects.get(pk=world.org_admin.pk)
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    # the link works once
    assert b"not valid any more" in client.get(link.group(1), follow=True).content


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, world, smtp):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert smtp.accepted == []


def test_password_reset_refuses_a_malformed_address(client, world, smtp):
    response = client.post("/accounts/password_reset/", {"email": "not an address"})
    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content
    assert smtp.accepted == []
