"""Reading the log: the tenancy door for every tenant type, the API's filters, the CSV
export and the page."""

import csv
import datetime as dt
import io

import pytest
import time_machine

from wlm.audit import services as audit
from wlm.audit.models import AuditEntry, Kind
from wlm.locations import services as locations

pytestmark = pytest.mark.django_db

API = "/api/v1/audit/"


@pytest.fixture
def api():
    """``api(user)``: a client logged in as ``user`` without a token of its own (a token
    made for the test would be one more entry, ``token_created``, in every reader's log;
    tokens' entries: test_entries.py)."""
    from rest_framework.test import APIClient

    def client_for(user=None) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def log(world):
    """One entry of each tenant's, a license of each distributor under the partner both
    work with, and one of the platform's."""
    world.partner.distributors.add(world.other_dist)  # the partner works with both

    def entry(tenant, label):
        return audit.record(
            Kind.TENANT_SETTINGS_CHANGED, obj=None, tenant=tenant, label=label, actor=world.staff
        ).pk

    return {
        "dist": entry(world.dist, "dist"),
        "other_dist": entry(world.other_dist, "other_dist"),
        "partner": entry(world.partner, "partner"),
        "other_partner": entry(world.other_partner, "other_partner"),
        "org": entry(world.org, "org"),
        "other_org": entry(world.other_org, "other_org"),
        # a license of each distributor through the shared partner; the second one not
        # yet provisioned (no organization)
        "license": entry(audit.Scope(world.dist.pk, world.partner.pk, world.org.pk), "lic"),
        "other_license": entry(audit.Scope(world.other_dist.pk, world.partner.pk), "lic2"),
        "platform": entry(None, "platform"),
    }


EVERYTHING = {
    "dist",
    "other_dist",
    "partner",
    "other_partner",
    "org",
    "other_org",
    "license",
    "other_license",
    "platform",
}
SEES = {
    "staff": EVERYTHING,
    "staff_viewer": EVERYTHING,
    "dist_admin": {"dist", "partner", "org", "license"},
    "other_dist_admin": {
        "other_dist",
        "other_partner",
        "other_org",
        "partner",
        "org",
        "other_license",
    },
    "partner_admin": {"partner", "org", "license", "other_license"},
    "other_partner_admin": {"other_partner", "other_org"},
    "org_admin": {"org", "license"},
    "other_org_admin": {"other_org"},
    "dist_viewer": set(),
    "partner_viewer": set(),
    "org_viewer": set(),
    "gateway": set(),
}


@pytest.mark.parametrize("person", SEES)
def test_each_tenant_sees_its_own_and_its_childrens(world, log, person):
    names = {pk: name for name, pk in log.items()}
    user = getattr(world, person)
    seen = {names[pk] for pk in AuditEntry.objects.visible_to(user).values_list("pk", flat=True)}
    assert seen == SEES[person]


@pytest.mark.parametrize("person", SEES)
def test_the_api_and_the_page_read_through_the_door(client, api, world, log, person):
    user = getattr(world, person)
    response = api(user).get(API, {"page_size": 500})
    page = client
    page.force_login(user)
    shown = page.get("/audit/")
    if not SEES[person]:  # viewers and the gateway: no log at all
        assert response.status_code == 403
        assert shown.status_code == 403
        return
    assert response.status_code == 200
    names = {pk: name for name, pk in log.items()}
    assert {names[row["id"]] for row in response.json()["results"]} == SEES[person]
    assert shown.status_code == 200
    for name, pk in log.items():
        assert (f'data-id="{pk}"' in shown.content.decode()) == (name in SEES[person])
    for name, pk in log.items():
        detail = api(user).get(f"{API}{pk}/")
        assert detail.status_code == (200 if name in SEES[person] else 404), name


def test_the_log_is_read_only_through_the_api(api, world, log):
    for method in ("post", "put", "patch", "delete"):
        response = getattr(api(world.staff), method)(f"{API}{log['dist']}/", {}, format="json")
        assert response.status_code in (403, 405), method
    assert api(world.staff).post(API, {}, format="json").status_code in (403, 405)
    assert AuditEntry.objects.count() == len(log)


# --- the filters ------------------------------------------------------------------------


@pytest.fixture
def history(world):
    """Changes on three days, by two people, with their client."""
    at = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    with time_machine.travel(at, tick=False):
        locations.add_room(world.org_admin, world.hotel, number="Suite Málaga")
    with time_machine.travel(at + dt.timedelta(days=1), tick=False):
        ap = locations.add_access_point(world.partner_admin, world.hotel, mac="0a0b0c0d0e0f")
    with time_machine.travel(at + dt.timedelta(days=2), tick=False):
        locations.remove_access_point(world.org_admin, ap)
    return ap


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters(api, world, history):
    staff = api(world.staff)
    every = ids(staff.get(API))
    assert len(every) == 3
    entries = {e.kind: e for e in AuditEntry.objects.all()}
    room = entries[Kind.ROOM_ADDED]
    added, removed = entries[Kind.ACCESS_POINT_ADDED], entries[Kind.ACCESS_POINT_REMOVED]
    assert every == [removed.pk, added.pk, room.pk]  # newest first
    assert ids(staff.get(API, {"kind": "room_added"})) == [room.pk]
    assert ids(staff.get(API, {"kind": ["room_added", "access_point_removed"]})) == [
        removed.pk,
        room.pk,
    ]
    assert ids(staff.get(API, {"actor": world.partner_admin.pk})) == [added.pk]
    the_ap = {"object_type": "locations.accesspoint", "object_id": added.object_id}
    assert ids(staff.get(API, the_ap)) == [removed.pk, added.pk]
    assert ids(staff.get(API, {"object_type": "locations.room"})) == [room.pk]
    assert ids(staff.get(API, {"since": "2026-03-02"})) == [removed.pk, added.pk]
    assert ids(staff.get(API, {"until": "2026-03-02"})) == [added.pk, room.pk]
    assert ids(staff.get(API, {"since": "2026-03-02", "until": "2026-03-02"})) == [added.pk]
    # q: the object's label or the actor's name, accents and case aside
    assert ids(staff.get(API, {"q": "malaga"})) == [room.pk]
    assert ids(staff.get(API, {"q": "PARTNER_adm"})) == [added.pk]
    assert ids(staff.get(API, {"q": "hotel 0A:0B"})) == [removed.pk, added.pk]
    assert ids(staff.get(API, {"ordering": "at"})) == [room.pk, added.pk, removed.pk]


def test_a_row_reads_as_documented(api, world, history):
    [row] = api(world.org_admin).get(API, {"kind": "room_added"}).json()["results"]
    assert row["kind"] == "room_added" and row["kind_label"] == "Room added"
    assert row["actor"] == {"id": world.org_admin.pk, "name": "org_admin"}
    assert row["tenant"] == {"type": "organization", "id": world.org.pk}
    assert row["object"]["type"] == "locations.room"
    assert row["object"]["label"] == "Hotel · Suite Málaga"
    assert row["before"] == {} and row["after"]["number"] == "Suite Málaga"
    assert row["at"] == "2026-03-01T10:00:00Z"


@pytest.mark.parametrize(
    "query",
    [
        {"kind": "bogus"},
        {"actor": "abc"},
        {"actor": "99999999999999999999999"},
        {"since": "not a date"},
        {"until": "2026-13-45"},
        {"ordering": "actor_name"},
        {"page_size": "0"},
        {"q": "x" * 201},
    ],
)
def test_bad_filters_are_a_400(api, world, query):
    assert api(world.staff).get(API, query).status_code == 400


@pytest.mark.parametrize("query", [{"since": "0001-01-01"}, {"until": "9999-12-31"}])
def test_the_ends_of_the_calendar(api, world, history, query):
    assert len(ids(api(world.staff).get(API, query))) == 3


def test_counts_are_capped(api, world, monkeypatch):
    from wlm.lib import pagination

    monkeypatch.setattr(pagination.CappedPaginator, "limit", 3)
    for _number in range(5):
        audit.record(Kind.LOGIN, obj=world.org_admin, tenant=world.org, actor=world.org_admin)
    body = api(world.org_admin).get(API, {"page_size": 2}).json()
    assert (body["count"], body["count_capped"], len(body["results"])) == (3, True, 2)


def test_csv(api, world, history):
    response = api(world.partner_admin).get(API, {"format": "csv", "kind": "access_point_added"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = rows
    entry = AuditEntry.objects.get(kind=Kind.ACCESS_POINT_ADDED)
    assert row["id"] == str(entry.pk)
    assert row["at"] == "2026-03-02T10:00:00Z"
    assert row["actor_name"] == "partner_admin" and row["actor_id"] == str(world.partner_admin.pk)
    assert row["object_label"] == "Hotel · 0A:0B:0C:0D:0E:0F"
    assert row["kind_label"] == "Access point added"
    assert row["before"] == "" and '"mac": "0A:0B:0C:0D:0E:0F"' in row["after"]
    assert list(rows[0]) == [
        "id",
        "at",
        "kind",
        "actor_id",
        "actor_name",
        "tenant_type",
        "tenant_id",
        "object_type",
        "object_id",
        "object_label",
        "before",
        "after",
        "address",
        "user_agent",
        "kind_label",
    ]
    # another tenant's export holds none of them
    other = api(world.other_org_admin).get(API, {"format": "csv"})
    assert b"".join(other.streaming_content).decode().count("\n") == 1  # the header


def test_a_csv_cell_cannot_be_a_formula(api, world):
    audit.record(
        Kind.LOGIN_FAILED, obj=None, tenant=world.org, label="=HYPERLINK(1)", actor_name="x"
    )
    response = api(world.org_admin).get(API, {"format": "csv"})
    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


def test_the_client_of_an_api_change(api, world):
    client = api(world.org_admin)
    response = client.post(
        f"/api/v1/locations/{world.hotel.pk}/rooms/",
        {"number": "808"},
        format="json",
        HTTP_USER_AGENT="curl/8.5",
        REMOTE_ADDR="2001:db8::5",
    )
    assert response.status_code == 201
    entry = AuditEntry.objects.get(kind=Kind.ROOM_ADDED)
    assert (entry.address, entry.user_agent) == ("2001:db8::5", "curl/8.5")


# --- the page ------------------------------------------------------------------------


def test_the_page(client, world, history):
    client.force_login(world.org_admin)
    page = client.get("/audit/")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="audit-link"' in text and 'aria-current="page"' in text
    assert "Hotel · Suite Málaga" in text and "Room added" in text
    assert "4 entries" in text  # the three changes and this login
    assert "Logged in" in text
    assert "/api/v1/audit/?format=csv" in text
    fragment = client.get(
        "/audit/", {"kind": "room_added"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert "<html" not in fragment.content.decode()
    assert "1 entry" in fragment.content.decode()
    assert "Access point added" not in fragment.content.decode()


def test_the_page_survives_bad_filters(client, world):
    client.force_login(world.staff)
    page = client.get("/audit/", {"since": "nope", "actor": "x", "kind": "bogus"})
    assert page.status_code == 200
    assert "Some filters are not valid" in page.content.decode()


def test_the_link_is_for_admins_and_staff(client, world):
    for person, shown in [
        ("staff", True),
        ("staff_viewer", True),
        ("dist_admin", True),
        ("org_admin", True),
        ("org_viewer", False),
        ("partner_viewer", False),
    ]:
        client.force_login(getattr(world, person))
        assert ('data-testid="audit-link"' in client.get("/").content.decode()) == shown, person


def test_anonymous_must_log_in(client, api):
    assert api().get(API).status_code == 401
    page = client.get("/audit/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_no_user_is_named_in_the_readers_language(client, world):
    """``system`` and ``anonymous`` are no user's names: the page writes them as words
    of its language (the stored name stays as written, for the API and the CSV)."""
    from django.utils import translation

    audit.record(Kind.LOGIN_FAILED, obj=None, tenant=None, label="x", actor_name="anonymous")
    audit.record(Kind.TENANT_CREATED, obj=None, tenant=None, label="y")
    entries = {e.actor_name: e for e in AuditEntry.objects.all()}
    assert set(entries) == {"anonymous", "system"}
    with translation.override("en"):
        assert entries["system"].actor_shown == "system"
        assert entries["anonymous"].actor_shown == "anonymous"
    named = AuditEntry(actor_id=7, actor_name="system")  # a user called "system"
    assert named.actor_shown == "system"
