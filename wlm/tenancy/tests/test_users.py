"""The users page and its services (docs/tenancy.md, "Users"): invitations by e-mail with
a one-time link, role changes, deactivation, and the tenant's last active admin kept."""

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from wlm.audit.models import AuditEntry, Kind
from wlm.conftest import PASSWORD, token_for
from wlm.tenancy import services
from wlm.tenancy.invitations import invitation_tokens
from wlm.tenancy.models import ApiToken, Membership, Role, TenantType

pytestmark = pytest.mark.django_db
SITE = "http://testserver"
NEW_PASSWORD = "a-long-new-password-42"


@pytest.fixture(autouse=True)
def public_url(settings):
    """The invitation links are under PUBLIC_URL: here the test client's own host."""
    settings.PUBLIC_URL = SITE


def invite(world, email="new@example.com", role=Role.VIEWER, by=None, tenant=None, **more):
    tenant = tenant or world.org
    return services.invite_user(
        by or world.org_admin,
        email=email,
        role=role,
        tenant_type=TenantType.ORGANIZATION,
        tenant_id=tenant.pk,
        **more,
    )


def link_of(mail) -> str:
    (link,) = re.findall(r"http://testserver(/invitation/\S+/)", mail.part("text/plain"))
    return link


def link_of_mail(message) -> str:
    (link,) = re.findall(r"http://testserver(/invitation/\S+/)", message.body)
    return link


# --- services ----------------------------------------------------------------------------
def test_an_invited_user_has_no_usable_password_until_the_link_sets_one(world, mailoutbox):
    person = invite(world, name="Ana", role=Role.ADMIN)
    assert person.username == person.email == "new@example.com"
    assert person.is_active and not person.has_usable_password()
    assert services.invitation_pending(person)
    assert person.membership.organization == world.org and person.membership.role == Role.ADMIN
    entry = AuditEntry.objects.get(kind=Kind.USER_INVITED)
    assert entry.object_id == str(person.pk) and entry.organization_id == world.org.pk
    assert entry.after["email"] == "new@example.com" and entry.after["role"] == "admin"
    assert Client().login(username="new@example.com", password="") is False
    (mail,) = mailoutbox
    assert mail.to == ["new@example.com"]


def test_an_invitation_is_refused_for_a_taken_address_or_a_tenant_not_managed(world):
    with pytest.raises(ValidationError) as taken:
        invite(world, email="ORG_ADMIN@example.com")
    assert "email" in taken.value.message_dict
    with pytest.raises(ValidationError):  # not seen: "no such tenant"
        invite(world, by=world.org_admin, tenant=world.other_org)
    with pytest.raises(PermissionDenied):  # seen, not managed
        services.invite_user(
            world.org_admin,
            email="new@example.com",
            role=Role.VIEWER,
            tenant_type=TenantType.PARTNER,
            tenant_id=world.partner.pk,
        )
    with pytest.raises(ValidationError):  # no role but these two
        invite(world, role=Role.GATEWAY)
    with pytest.raises(PermissionDenied):
        invite(world, by=world.org_viewer)
    assert not get_user_model().objects.filter(email__iexact="new@example.com").exists()
    assert not AuditEntry.objects.filter(kind=Kind.USER_INVITED).exists()


def test_a_refused_e_mail_creates_nobody(world, smtp):
    smtp.answer = "554 no thanks"
    with pytest.raises(ValidationError) as refused:
        invite(world)
    assert "could not be sent" in refused.value.message_dict["email"][0]
    assert not get_user_model().objects.filter(email="new@example.com").exists()
    assert not AuditEntry.objects.filter(kind=Kind.USER_INVITED).exists()


def test_the_link_works_once_and_expires_after_seven_days(world, mailoutbox):
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False) as moment:
        person = invite(world)
        token = invitation_tokens.make_token(person)
        moment.shift(dt.timedelta(days=7) - dt.timedelta(seconds=1))
        assert invitation_tokens.check_token(person, token)
        moment.shift(dt.timedelta(seconds=2))
        assert not invitation_tokens.check_token(person, token)
        client = Client()
        answer = client.get(link_of_mail(mailoutbox[0]), follow=True)
        assert 'data-testid="invitation-invalid"' in answer.content.decode()


def test_a_password_reset_token_is_no_invitation(world):
    from django.contrib.auth.tokens import default_token_generator

    person = invite(world)
    assert not invitation_tokens.check_token(person, default_token_generator.make_token(person))


def test_a_deactivated_invitees_link_is_refused(world, mailoutbox):
    person = invite(world)
    services.deactivate_user(world.org_admin, person)
    answer = Client().get(link_of_mail(mailoutbox[0]), follow=True)
    assert 'data-testid="invitation-invalid"' in answer.content.decode()


def test_a_role_change_is_audited_and_the_last_admin_is_kept(world):
    services.change_role(world.org_admin, world.org_viewer, Role.ADMIN)
    assert Membership.objects.get(user=world.org_viewer).role == Role.ADMIN
    entry = AuditEntry.objects.get(kind=Kind.USER_CHANGED)
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "admin"})
    # org_admin and org_viewer are admins now: the partner demotes one, not both
    services.change_role(world.partner_admin, world.org_admin, Role.VIEWER)
    with pytest.raises(ValidationError, match="last active administrator"):
        services.change_role(world.partner_admin, world.org_viewer, Role.VIEWER)
    with pytest.raises(ValidationError, match="last active administrator"):
        services.deactivate_user(world.partner_admin, world.org_viewer)
    assert Membership.objects.get(user=world.org_viewer).role == Role.ADMIN
    assert get_user_model().objects.get(pk=world.org_viewer.pk).is_active
    assert AuditEntry.objects.filter(kind=Kind.USER_CHANGED).count() == 2


def test_an_inactive_admin_does_not_count(world):
    second = invite(world, email="second@example.com", role=Role.ADMIN)
    services.deactivate_user(world.org_admin, second)
    with pytest.raises(ValidationError, match="last active administrator"):
        services.deactivate_user(world.partner_admin, world.org_admin)


def test_nobody_changes_their_own_account_nor_another_tenants(world):
    with pytest.raises(ValidationError):
        services.deactivate_user(world.org_admin, world.org_admin)
    with pytest.raises(PermissionDenied):
        services.change_role(world.other_org_admin, world.org_viewer, Role.ADMIN)
    with pytest.raises(PermissionDenied):
        services.deactivate_user(world.org_viewer, world.org_admin)
    with pytest.raises(PermissionDenied):
        services.deactivate_user(world.dist_admin, world.org_viewer)
    with pytest.raises(PermissionDenied):
        services.deactivate_user(world.staff, world.gateway)


def test_deactivation_ends_sessions_and_tokens(world):
    token = token_for(world.org_viewer)
    session = Client()
    session.force_login(world.org_viewer)
    assert session.get("/profile/").status_code == 200
    services.deactivate_user(world.org_admin, world.org_viewer)
    assert session.get("/profile/").status_code == 302  # the session is refused
    assert not ApiToken.objects.filter(user=world.org_viewer, revoked__isnull=True).exists()
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/licenses/").status_code == 401
    entry = AuditEntry.objects.get(kind=Kind.USER_DEACTIVATED)
    assert entry.after == {"is_active": False} and entry.organization_id == world.org.pk
    assert not Client().login(username="org_viewer", password=PASSWORD)


# --- the e-mail through a real SMTP server, the link followed -----------------------------
def test_the_invitation_e_mail_its_link_sets_the_password_once(world, smtp):
    client = Client()
    client.force_login(world.org_admin)
    answer = client.post(
        "/users/",
        {
            "email": "ana@example.com",
            "name": "<b>Ana</b> & co",
            "role": "viewer",
            "language": "en",
            "tenant": f"organization:{world.org.pk}",
        },
    )
    assert answer.status_code == 302, answer.content.decode()
    (mail,) = smtp.to("ana@example.com")
    html = mail.part("text/html")
    assert "&lt;b&gt;Ana&lt;/b&gt; &amp; co" in html and "<b>Ana" not in html
    text = mail.part("text/plain")
    assert "Hello <b>Ana</b> & co," in text  # plain text: the name as typed, one line
    assert "org_admin invites you" in text and "Org" in mail.message["Subject"]
    link = link_of(mail)
    assert f'href="http://testserver{link}"' in html

    invitee = Client()
    form = invitee.get(link, follow=True)  # Django moves the token into the session
    assert 'data-testid="set-password"' in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = invitee.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/accounts/login/"
    login = invitee.post(
        "/accounts/login/", {"username": "ana@example.com", "password": NEW_PASSWORD}
    )
    assert login.status_code == 302
    assert invitee.get("/profile/").status_code == 200

    again = Client().get(link, follow=True)
    assert 'data-testid="invitation-invalid"' in again.content.decode()
    assert 'data-testid="set-password"' not in again.content.decode()


def test_the_invitees_language_is_kept_for_their_notices(world, smtp):
    person = invite(world, email="es@example.com", language="es")
    assert Membership.objects.get(user=person).language == "es"
    (mail,) = smtp.to("es@example.com")
    assert "/invitation/" in mail.part("text/plain")


# --- the page: who may, and what it shows ------------------------------------------------
ADMINS = ["staff", "dist_admin", "partner_admin", "org_admin"]
REFUSED = ["staff_viewer", "dist_viewer", "partner_viewer", "org_viewer", "gateway"]


@pytest.mark.parametrize("person", REFUSED)
def test_viewers_and_the_gateway_are_refused_the_page(world, person):
    client = Client()
    client.force_login(getattr(world, person))
    target = world.org_viewer.pk
    assert client.get("/users/").status_code == 403
    assert client.post("/users/", {"email": "x@example.com"}).status_code == 403
    assert client.post(f"/users/{target}/role/", {"role": "admin"}).status_code == 403
    assert client.get(f"/users/{target}/deactivate/").status_code == 403
    assert client.post(f"/users/{target}/deactivate/").status_code == 403
    assert get_user_model().objects.get(pk=target).is_active


@pytest.mark.parametrize(
    ("person", "sees", "hidden"),
    [
        ("staff", ["org_viewer", "dist_viewer", "staff_viewer"], ["gateway"]),
        ("dist_admin", ["dist_viewer"], ["org_viewer", "partner_viewer", "other_dist_admin"]),
        ("partner_admin", ["partner_viewer", "org_viewer"], ["dist_viewer", "other_org_admin"]),
        ("org_admin", ["org_viewer"], ["partner_viewer", "other_org_admin"]),
    ],
)
def test_an_admin_lists_the_users_they_manage(world, person, sees, hidden):
    client = Client()
    client.force_login(getattr(world, person))
    page = client.get("/users/").content.decode()
    for name in sees:
        assert f'data-user="{name}"' in page, name
    for name in hidden:
        assert f'data-user="{name}"' not in page, name


def test_staff_filter_by_tenant(world):
    client = Client()
    client.force_login(world.staff)
    page = client.get(f"/users/?tenant=distributor:{world.dist.pk}").content.decode()
    assert 'data-user="dist_viewer"' in page and 'data-user="org_viewer"' not in page
    assert f'value="distributor:{world.dist.pk}" selected' in page


@pytest.mark.parametrize(
    ("outsider", "target"),
    [
        ("other_org_admin", "org_viewer"),
        ("dist_admin", "org_viewer"),
        ("org_admin", "partner_viewer"),
        ("other_partner_admin", "org_viewer"),
    ],
)
def test_another_tenants_user_is_not_found(world, outsider, target):
    client = Client()
    client.force_login(getattr(world, outsider))
    pk = getattr(world, target).pk
    assert client.post(f"/users/{pk}/role/", {"role": "admin"}).status_code == 404
    assert client.get(f"/users/{pk}/deactivate/").status_code == 404
    assert client.post(f"/users/{pk}/deactivate/").status_code == 404
    assert Membership.objects.get(user_id=pk).role == Role.VIEWER


def test_anonymous_must_log_in(world):
    client = Client()
    for url in ("/users/", f"/users/{world.org_viewer.pk}/deactivate/"):
        assert client.get(url).status_code == 302
    answer = client.post(f"/users/{world.org_viewer.pk}/role/", {"role": "admin"})
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("owner", ["org_admin", "partner_admin", "staff"])
def test_the_owner_changes_a_role_and_deactivates(world, owner):
    client = Client()
    client.force_login(getattr(world, owner))
    pk = world.org_viewer.pk
    changed = client.post(f"/users/{pk}/role/", {"role": "admin", "next": "/users/?q=org"})
    assert changed.status_code == 302 and changed["Location"] == "/users/?q=org"
    assert Membership.objects.get(user_id=pk).role == Role.ADMIN
    assert client.get(f"/users/{pk}/deactivate/").status_code == 200
    done = client.post(f"/users/{pk}/deactivate/")
    assert done.status_code == 302 and done["Location"] == "/users/"
    assert not get_user_model().objects.get(pk=pk).is_active


def test_the_page_refuses_the_last_admin_clearly_and_bad_input(world):
    client = Client()
    client.force_login(world.partner_admin)
    pk = world.org_admin.pk
    refused = client.post(f"/users/{pk}/role/", {"role": "viewer"})
    assert refused.status_code == 400
    assert "last active administrator" in refused.content.decode()
    refused = client.post(f"/users/{pk}/deactivate/")
    assert refused.status_code == 400 and "last active administrator" in refused.content.decode()
    assert client.post(f"/users/{pk}/role/", {"role": "gateway"}).status_code == 400
    bad = client.post("/users/", {"email": "not an address", "role": "viewer", "language": "en"})
    assert bad.status_code == 400
    assert get_user_model().objects.get(pk=pk).is_active
    assert Membership.objects.get(user_id=pk).role == Role.ADMIN


def test_an_invite_into_a_tenant_not_offered_is_a_form_error(world, mailoutbox):
    client = Client()
    client.force_login(world.org_admin)
    answer = client.post(
        "/users/",
        {
            "email": "x@example.com",
            "role": "viewer",
            "language": "en",
            "tenant": f"organization:{world.other_org.pk}",
        },
    )
    assert answer.status_code == 400 and not mailoutbox
    assert not get_user_model().objects.filter(email="x@example.com").exists()


def test_the_page_shows_an_invited_user_as_invited(world, mailoutbox):
    invite(world, email="pending@example.com")
    client = Client()
    client.force_login(world.org_admin)
    page = client.get("/users/").content.decode()
    assert 'data-user="pending@example.com" data-state="invited"' in page


# --- the API: the same services ------------------------------------------------------------
def test_the_api_invites_changes_a_role_and_deactivates(world, api, smtp):
    body = {
        "email": "api@example.com",
        "role": "admin",
        "tenant_type": "organization",
        "tenant_id": world.org.pk,
    }
    assert api().post("/api/v1/users/invite/", body, format="json").status_code == 401
    assert (
        api(world.org_viewer).post("/api/v1/users/invite/", body, format="json").status_code == 403
    )
    outside = api(world.other_org_admin).post("/api/v1/users/invite/", body, format="json")
    assert outside.status_code == 400 and "tenant_id" in outside.json()["errors"]
    invited = api(world.org_admin).post("/api/v1/users/invite/", body, format="json")
    assert invited.status_code == 201, invited.content
    data = invited.json()
    assert data["username"] == "api@example.com" and data["invitation_pending"] is True
    assert data["role"] == "admin" and data["is_active"] is True
    (mail,) = smtp.to("api@example.com")
    assert "/invitation/" in mail.part("text/plain")

    pk = data["id"]
    demoted = api(world.org_admin).post(f"/api/v1/users/{pk}/role/", {"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    bad = api(world.org_admin).post(f"/api/v1/users/{pk}/role/", {"role": "gateway"})
    assert bad.status_code == 400
    last = api(world.partner_admin).post(f"/api/v1/users/{world.org_admin.pk}/deactivate/")
    assert last.status_code == 400 and "last active administrator" in last.content.decode()
    gone = api(world.org_admin).post(f"/api/v1/users/{pk}/deactivate/")
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    kinds = list(AuditEntry.objects.filter(object_id=str(pk)).values_list("kind", flat=True))
    assert sorted(kinds) == sorted([Kind.USER_INVITED, Kind.USER_CHANGED, Kind.USER_DEACTIVATED])


def test_the_link_is_under_public_url_whatever_host_the_request_named(world, api, settings, smtp):
    """The request's Host header is the client's to choose: the e-mailed link, which
    carries a valid token, is always under the platform's PUBLIC_URL."""
    settings.PUBLIC_URL = "https://wifi.example"
    settings.ALLOWED_HOSTS = ["testserver", "other.example"]
    body = {"email": "host@example.com", "role": "viewer", "tenant_type": "organization"}
    body["tenant_id"] = world.org.pk
    invited = api(world.org_admin).post(
        "/api/v1/users/invite/", body, format="json", HTTP_HOST="other.example"
    )
    assert invited.status_code == 201, invited.content
    (mail,) = smtp.to("host@example.com")
    text = mail.part("text/plain")
    assert "https://wifi.example/invitation/" in text and "other.example" not in text


def test_the_service_checks_the_address_and_the_name_itself(world, mailoutbox):
    with pytest.raises(ValidationError) as bad:
        invite(world, email="not an address")
    assert "email" in bad.value.message_dict
    with pytest.raises(ValidationError) as bad:  # valid for e-mail, not for a username
        invite(world, email="r2g*ha@example.net")
    assert "username" in bad.value.message_dict["email"][0]
    with pytest.raises(ValidationError) as bad:
        invite(world, name="two\nlines")
    assert "name" in bad.value.message_dict
    assert not mailoutbox and not AuditEntry.objects.filter(kind=Kind.USER_INVITED).exists()
