"""Every kind of change that exists today writes its audit entry, in the transaction of
the change: what the change commits, the entry commits; what rolls back leaves none."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from wlm.audit import services as audit
from wlm.audit.models import AppendOnly, AuditEntry, Kind
from wlm.licenses import lifecycle, services
from wlm.licenses.models import LicenseEvent
from wlm.locations import services as locations
from wlm.locations.models import AccessPoint, Room
from wlm.tenancy import services as tenancy
from wlm.tenancy.models import Organization

pytestmark = pytest.mark.django_db


def entries(kind=None):
    rows = AuditEntry.objects.order_by("id")
    return list(rows.filter(kind=kind) if kind else rows)


def only(kind) -> AuditEntry:
    [entry] = entries(kind)
    return entry


def _terms(world, location=None, **limit):
    location = location or world.shop
    return services.Terms(
        location=location,
        distributor=world.dist,
        years=1,
        payment="annual",
        **(limit or ({"rooms": 5} if location.is_hospitality else {"aps": 5})),
    )


def test_a_request_decided(world):
    request = services.create_request(world.partner_admin, _terms(world))
    created = only(Kind.REQUEST_CREATED)
    assert (created.actor_id, created.actor_name) == (world.partner_admin.pk, "partner_admin")
    assert (created.distributor_id, created.partner_id, created.organization_id) == (
        world.dist.pk,
        world.partner.pk,
        world.org.pk,
    )
    assert (created.object_type, created.object_id) == ("licenses.licenserequest", str(request.pk))
    license = services.approve_request(world.dist_admin, request.pk)
    approved = only(Kind.REQUEST_APPROVED)
    assert approved.before == {"state": "pending"}
    assert approved.after == {"state": "approved", "license": license.pk}
    assert approved.actor_name == "dist_admin"

    other = services.create_request(world.partner_admin, _terms(world, world.hotel))
    services.reject_request(world.dist_admin, other.pk, "no stock")
    rejected = only(Kind.REQUEST_REJECTED)
    assert rejected.after == {"state": "rejected", "reason": "no stock"}
    assert rejected.object_id == str(other.pk)


def test_every_license_event_is_in_the_log_once(world):
    """One write path: ``lifecycle.record`` appends the history event and its entry, so
    the log has exactly the license's events, kind for kind."""
    license = services.create_license(world.dist_admin, _terms(world))
    lifecycle.provision(world.org_admin, world.shop, license.key)
    lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    lifecycle.restore(world.dist_admin, license.pk)
    events = list(LicenseEvent.objects.filter(license=license).order_by("id"))
    logged = [e for e in entries() if e.object_type == "licenses.license"]
    assert [audit.license_kind(e.kind) for e in events] == [e.kind for e in logged]
    assert [e.kind for e in logged] == [
        Kind.LICENSE_CREATED,
        Kind.LICENSE_PROVISIONED,
        Kind.LICENSE_DENIED,
        Kind.LICENSE_RESTORED,
    ]
    denied = only(Kind.LICENSE_DENIED)
    assert denied.before["status"] == "pending_start"
    assert denied.after["status"] == "access_denied" and denied.after["reason"] == "unpaid"
    assert denied.organization_id == world.org.pk  # provisioned: the organization's too
    created = only(Kind.LICENSE_CREATED)
    assert created.organization_id is None  # before Send Key it sees no license
    assert created.object_label == license.key


def test_a_background_change_is_the_systems(world):
    license = services.create_license(world.dist_admin, _terms(world))
    lifecycle.provision(world.org_admin, world.shop, license.key)
    from wlm.lib import clock

    lifecycle.start(license.pk, clock.today_in(world.shop.timezone))
    started = only(Kind.LICENSE_STARTED)
    assert (started.actor_id, started.actor_name) == (None, "system")
    assert started.address is None and started.user_agent == ""


def test_an_assignment(world):
    from wlm.locations.models import Location

    license = services.create_license(world.dist_admin, _terms(world, aps=5))
    lifecycle.provision(world.org_admin, world.shop, license.key)
    second = Location.objects.create(
        organization=world.org, name="Kiosk", sector="retail", timezone="UTC", country="ES"
    )
    lifecycle.assign(world.org_admin, license.pk, second)
    added = only(Kind.ASSIGNMENT_ADDED)
    assert added.after["location"] == str(second.pk)
    lifecycle.unassign(world.org_admin, license.pk, second)
    removed = only(Kind.ASSIGNMENT_REMOVED)
    assert removed.before["location"] == str(second.pk)
    assert removed.object_id == str(license.pk)


def test_access_points_rooms_and_locations(world):
    access_point = locations.add_access_point(world.org_admin, world.hotel, mac="0a0b0c0d0e0f")
    added = only(Kind.ACCESS_POINT_ADDED)
    assert added.after == {"location": str(world.hotel.pk), "mac": "0A:0B:0C:0D:0E:0F", "name": ""}
    assert added.object_label == "Hotel · 0A:0B:0C:0D:0E:0F"
    assert (added.partner_id, added.organization_id, added.distributor_id) == (
        world.partner.pk,
        world.org.pk,
        None,
    )
    assert (added.tenant_type, added.tenant_id) == ("organization", world.org.pk)
    access_point_id = access_point.pk
    locations.remove_access_point(world.partner_admin, access_point)
    removed = only(Kind.ACCESS_POINT_REMOVED)
    assert removed.before["mac"] == "0A:0B:0C:0D:0E:0F" and removed.after == {}
    assert removed.object_id == str(access_point_id) and removed.actor_name == "partner_admin"

    room = locations.add_room(world.org_admin, world.hotel, number="202")
    assert only(Kind.ROOM_ADDED).after == {"location": str(world.hotel.pk), "number": "202"}
    locations.remove_room(world.org_admin, room)
    assert only(Kind.ROOM_REMOVED).before == {"location": str(world.hotel.pk), "number": "202"}

    location = locations.create_location(
        world.org_admin,
        organization=world.org,
        name="Beach bar",
        sector="retail",
        timezone="Europe/Madrid",
        country="ES",
    )
    assert only(Kind.LOCATION_ADDED).after["country"] == "ES"
    locations.update_location(world.org_admin, location, address="Playa 1", name="Beach bar")
    changed = only(Kind.LOCATION_CHANGED)
    assert (changed.before, changed.after) == ({"address": ""}, {"address": "Playa 1"})
    locations.update_location(world.org_admin, location, name="Beach bar")
    assert len(entries(Kind.LOCATION_CHANGED)) == 1  # nothing changed: nothing written


def test_tenant_settings_never_show_a_secret(world):
    tenancy.update_tenant(
        world.org_admin,
        world.org,
        email="new@example.com",
        webhook_url="https://93.184.216.34/hook?token=s3cret",
        language="es",
    )
    changed = only(Kind.TENANT_SETTINGS_CHANGED)
    assert changed.before == {"email": "org@example.com", "webhook_url": "", "language": "en"}
    assert changed.after == {
        "email": "new@example.com",
        "webhook_url": "https://93.184.216.34/…",
        "language": "es",
    }
    assert "s3cret" not in str(changed.after)
    secret = tenancy.rotate_webhook_secret(world.org_admin, world.org)
    rotated = only(Kind.WEBHOOK_SECRET_ROTATED)
    assert secret not in str(rotated.before) + str(rotated.after)
    assert rotated.after == {"webhook_secret": audit.CHANGED}


def test_a_partners_distributors(world):
    tenancy.update_tenant(world.staff, world.partner, distributors=[world.dist, world.other_dist])
    changed = only(Kind.TENANT_SETTINGS_CHANGED)
    assert changed.before == {"distributors": [world.dist.pk]}
    assert changed.after == {"distributors": sorted([world.dist.pk, world.other_dist.pk])}


def test_tenants_and_users_created(world):
    organization = tenancy.create_organization(world.partner_admin, name="New Org")
    created = only(Kind.TENANT_CREATED)
    assert created.object_id == str(organization.pk)
    assert created.after["partner"] == world.partner.pk
    user = tenancy.create_user(
        world.org_admin,
        username="newbie",
        email="newbie@example.com",
        password="a-long-and-fine-password-1",
        tenant_type="organization",
        tenant_id=world.org.pk,
        role="viewer",
    )
    made = only(Kind.USER_CREATED)
    assert made.object_id == str(user.pk) and made.organization_id == world.org.pk
    assert "password" not in made.after


def test_a_login_and_a_failed_one_with_the_client(client, world):
    agent = {"HTTP_USER_AGENT": "Firefox/140", "REMOTE_ADDR": "198.51.100.7"}
    client.post("/accounts/login/", {"username": "org_admin", "password": "wrong"}, **agent)
    failed = only(Kind.LOGIN_FAILED)
    assert (failed.actor_id, failed.actor_name, failed.object_label) == (
        None,
        "anonymous",
        "org_admin",
    )
    assert failed.organization_id == world.org.pk  # its admins see attempts on their users
    assert (failed.address, failed.user_agent) == ("198.51.100.7", "Firefox/140")
    assert "wrong" not in str(failed.after) + str(failed.before)
    from wlm.conftest import PASSWORD

    client.post("/accounts/login/", {"username": "org_admin", "password": PASSWORD}, **agent)
    login = only(Kind.LOGIN)
    assert (login.actor_id, login.object_id) == (world.org_admin.pk, str(world.org_admin.pk))
    assert (login.address, login.user_agent) == ("198.51.100.7", "Firefox/140")


def test_the_token_endpoints_failures(api, world):
    response = api().post(
        "/api/v1/auth/token/", {"username": "nobody", "password": "x"}, format="json"
    )
    assert response.status_code == 401
    failed = only(Kind.LOGIN_FAILED)
    assert failed.object_label == "nobody" and failed.object_type == ""
    assert failed.tenant_type == "staff" and failed.organization_id is None  # staff only


def test_tokens_made_and_revoked(api, world):
    from wlm.conftest import PASSWORD
    from wlm.tenancy import tokens

    response = api().post(
        "/api/v1/auth/token/",
        {"username": "partner_admin", "password": PASSWORD, "scope": "read"},
        format="json",
    )
    assert response.status_code == 200
    made = only(Kind.TOKEN_CREATED)  # the token endpoint's login is the token it makes
    assert (made.actor_id, made.partner_id) == (world.partner_admin.pk, world.partner.pk)
    assert made.after == {"name": made.after["name"], "scope": "read", "expires": None}
    assert response.json()["token"] not in str(made.after) + made.object_label
    token = tokens.find(response.json()["token"])
    tokens.revoke(world.partner_admin, token)
    tokens.revoke(world.partner_admin, token)  # a second revocation writes nothing
    revoked = only(Kind.TOKEN_REVOKED)
    assert (revoked.object_id, revoked.actor_id) == (str(token.pk), world.partner_admin.pk)


def test_a_tokens_life_in_the_log_made_used_revoked_refused(api, world):
    """The issue's story: made on the page, used with curl, revoked, the next call refused
    — four entries, the first use and the refusal once however often the client calls."""
    import datetime as dt

    import time_machine

    from wlm.lib import clock
    from wlm.tenancy import tokens

    token, key = tokens.issue(world.partner_admin, "curl", "read")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    start = clock.now()
    for minutes in (0, 0, 2):  # used three times, later too: one first use
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert client.get("/api/v1/licenses/").status_code == 200
    tokens.revoke(world.partner_admin, token)
    for minutes in (3, 3, 3, 5):  # refused four times: once a minute in the log
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            refused = client.get("/api/v1/licenses/")
        assert refused.status_code == 401
        assert refused.json()["type"].endswith("/token-revoked")
    kinds = [entry.kind for entry in entries() if entry.object_id == str(token.pk)]
    assert kinds == [
        Kind.TOKEN_CREATED,
        Kind.TOKEN_FIRST_USED,
        Kind.TOKEN_REVOKED,
        Kind.TOKEN_REFUSED,
        Kind.TOKEN_REFUSED,
    ]
    first_use = only(Kind.TOKEN_FIRST_USED)
    assert (first_use.actor_id, first_use.partner_id) == (world.partner_admin.pk, world.partner.pk)
    refusal = entries(Kind.TOKEN_REFUSED)[0]
    assert (refusal.actor_name, refusal.after) == ("anonymous", {"reason": "revoked"})


def test_a_new_password_revokes_each_token_in_the_log(world):
    from wlm.tenancy import tokens

    first, _ = tokens.issue(world.org_admin, "one")
    second, _ = tokens.issue(world.org_admin, "two")
    world.org_admin.set_password("another-long-password-2")
    world.org_admin.save()
    revoked = entries(Kind.TOKEN_REVOKED)
    assert {entry.object_id for entry in revoked} >= {str(first.pk), str(second.pk)}
    assert {entry.actor_name for entry in revoked} == {"system"}
    assert {entry.organization_id for entry in revoked} == {world.org.pk}


# --- the same transaction -----------------------------------------------------------


CHANGES = {
    "request decided": lambda w: services.reject_request(
        w.dist_admin, services.create_request(w.partner_admin, _terms(w)).pk, "no"
    ),
    "license event": lambda w: services.create_license(w.dist_admin, _terms(w)),
    "access point": lambda w: locations.add_access_point(w.org_admin, w.hotel, mac="0a0b0c0d0e01"),
    "room": lambda w: locations.add_room(w.org_admin, w.hotel, number="303"),
    "room removed": lambda w: locations.remove_room(w.org_admin, Room.objects.get(number="101")),
    "tenant settings": lambda w: tenancy.update_tenant(w.org_admin, w.org, email="n@example.com"),
    "webhook secret": lambda w: tenancy.rotate_webhook_secret(w.org_admin, w.org),
    "location": lambda w: locations.create_location(
        w.org_admin, organization=w.org, name="X", sector="retail", timezone="UTC", country="ES"
    ),
}


def _state():
    from wlm.licenses.models import License, LicenseRequest
    from wlm.locations.models import Location

    return (
        LicenseRequest.objects.count(),
        list(LicenseRequest.objects.values_list("state", flat=True)),
        License.objects.count(),
        AccessPoint.objects.count(),
        Room.objects.count(),
        Location.objects.count(),
        list(Organization.objects.values_list("email", "webhook_secret")),
        AuditEntry.objects.count(),
    )


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", CHANGES)
def test_a_rolled_back_change_leaves_no_entry(world, name):
    before = _state()
    with pytest.raises(Boom), transaction.atomic():
        CHANGES[name](world)
        assert AuditEntry.objects.count() > before[-1]  # written, inside the transaction
        raise Boom
    assert _state() == before


@pytest.mark.parametrize("name", CHANGES)
def test_a_failed_entry_undoes_the_change(world, name, monkeypatch):
    """The entry is written in the change's transaction: when it cannot be written, the
    change is not made either."""
    before = _state()

    def refuse(self, *args, **kwargs):
        raise Boom

    monkeypatch.setattr(AuditEntry, "save", refuse)
    with pytest.raises(Boom):
        CHANGES[name](world)
    assert _state() == before


def test_one_insert_per_entry(world):
    with CaptureQueriesContext(connection) as queries:
        locations.add_room(world.org_admin, world.hotel, number="404")
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "audit_')]
    assert len(inserts) == 1


# --- append-only ----------------------------------------------------------------------


def test_the_log_is_append_only(world):
    locations.add_room(world.org_admin, world.hotel, number="505")
    entry = only(Kind.ROOM_ADDED)
    entry.object_label = "forged"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(object_label="forged")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.bulk_update([entry], ["object_label"])
    assert AuditEntry.objects.get(pk=entry.pk).object_label == "Hotel · 505"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigger")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET object_label = 'forged'",
        "DELETE FROM audit_auditentry",
    ],
)
def test_postgresql_refuses_to_change_an_entry(world, sql):
    from django.db import DatabaseError

    locations.add_room(world.org_admin, world.hotel, number="606")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert only(Kind.ROOM_ADDED).object_label == "Hotel · 606"


def test_an_entry_outlives_its_user(world):
    from wlm.conftest import make_user

    passer = make_user("passer", "organization", world.org)
    locations.add_room(passer, world.hotel, number="707")
    passer_id = passer.pk
    passer.delete()
    entry = only(Kind.ROOM_ADDED)
    assert (entry.actor_id, entry.actor_name) == (passer_id, "passer")
