"""A location's installation mode through the API (docs/api.md, docs/connections.md):
switched on with an end (at most 30 days) or until switched off, switched off, read;
who may; bad input is a 400 and changes nothing; every switch is in the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import IntegrityError, transaction

from wlm.audit.models import AuditEntry, Kind
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"


def url(location) -> str:
    return f"/api/v1/locations/{location.pk}/installation/"


def call(api, user, method, location, body=None, *, at=NOW):
    with time_machine.travel(at, tick=False):
        return getattr(api(user), method)(url(location), body, format="json")


def fields(location) -> tuple:
    return Location.objects.values_list(
        "installation_since", "installation_until", "counting_since"
    ).get(pk=location.pk)


def test_switched_on_with_an_end(world, api):
    until = NOW + dt.timedelta(days=7)
    answer = call(api, world.org_admin, "post", world.hotel, {"until": until.isoformat()})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "location": str(world.hotel.pk),
        "active": True,
        "since": "2027-03-01T12:00:00Z",
        "until": "2027-03-08T12:00:00Z",
        "counts_from": "2027-03-08T12:00:00Z",
    }
    assert fields(world.hotel) == (NOW, until, None)
    # after its end date: counting has begun, nothing was written
    later = call(api, world.org_viewer, "get", world.hotel, at=until)
    assert later.json()["active"] is False
    assert later.json()["counts_from"] == "2027-03-08T12:00:00Z"


def test_switched_on_until_switched_off_then_off(world, api):
    answer = call(api, world.partner_admin, "post", world.hotel, {})
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True and body["until"] is None and body["counts_from"] is None
    off_at = NOW + dt.timedelta(days=45)  # no end date: longer than 30 days
    off = call(api, world.staff, "delete", world.hotel, at=off_at)
    assert off.status_code == 200, off.content
    assert off.json() == {
        "location": str(world.hotel.pk),
        "active": False,
        "since": None,
        "until": None,
        "counts_from": "2027-04-15T12:00:00Z",
    }
    assert fields(world.hotel) == (None, None, off_at)


def test_switched_on_again_starts_a_new_installation(world, api):
    call(
        api,
        world.org_admin,
        "post",
        world.hotel,
        {"until": (NOW + dt.timedelta(days=30)).isoformat()},
    )
    again = NOW + dt.timedelta(days=20)
    until = again + dt.timedelta(days=30)  # 50 days after the first start: a new one
    answer = call(api, world.org_admin, "post", world.hotel, {"until": until.isoformat()}, at=again)
    assert answer.status_code == 200, answer.content
    assert fields(world.hotel) == (again, until, None)


def test_switching_off_a_location_not_in_installation_is_a_409(world, api):
    answer = call(api, world.org_admin, "delete", world.hotel)
    assert answer.status_code == 409 and answer["Content-Type"] == PROBLEM
    assert "not in installation" in answer.json()["detail"]
    until = NOW + dt.timedelta(days=1)
    call(api, world.org_admin, "post", world.hotel, {"until": until.isoformat()})
    ended = call(api, world.org_admin, "delete", world.hotel, at=until)  # ended by its date
    assert ended.status_code == 409
    assert fields(world.hotel) == (NOW, until, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"until": (NOW + dt.timedelta(days=30, seconds=1)).isoformat()}, "at most 30 days"),
        ({"until": (NOW + dt.timedelta(days=90)).isoformat()}, "at most 30 days"),
        ({"until": NOW.isoformat()}, "in the future"),
        ({"until": (NOW - dt.timedelta(days=1)).isoformat()}, "in the future"),
        ({"until": "2027-03-05T12:00:00"}, "offset"),
        ({"until": "next week"}, "format"),
        ({"until": 7}, "format"),
        ([], "dictionary"),
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(world, api, body, message):
    answer = call(api, world.org_admin, "post", world.hotel, body)
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == PROBLEM
    errors = answer.json()["errors"]
    assert message in str(errors), errors
    assert fields(world.hotel) == (None, None, None)
    assert not AuditEntry.objects.filter(kind=Kind.LOCATION_CHANGED).exists()


def test_thirty_days_exactly_is_allowed(world, api):
    until = NOW + dt.timedelta(days=30)
    answer = call(api, world.org_admin, "post", world.hotel, {"until": until.isoformat()})
    assert answer.status_code == 200, answer.content


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (NOW, NOW + dt.timedelta(days=30, seconds=1)),
        (NOW, NOW),
        (None, NOW),
    ],
)
def test_the_database_refuses_an_installation_past_30_days(world, since, until):
    """The check constraint, whatever writes the row (SQLite: within a millisecond)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.filter(pk=world.hotel.pk).update(
            installation_since=since, installation_until=until
        )


@pytest.mark.parametrize(
    ("person", "status"),
    [
        ("org_admin", 200),
        ("partner_admin", 200),  # the location's partner
        ("staff", 200),
        ("org_viewer", 403),
        ("partner_viewer", 403),
        ("dist_admin", 403),  # sees the location, does not manage it
        ("staff_viewer", 403),
        ("gateway", 403),
        ("other_org_admin", 404),
        ("other_partner_admin", 404),
        (None, 401),
    ],
)
def test_who_switches(world, api, person, status):
    user = getattr(world, person) if person else None
    on = call(api, user, "post", world.hotel, {})
    assert on.status_code == status, on.content
    assert (fields(world.hotel)[0] is not None) is (status == 200)
    if status == 200:
        assert call(api, user, "delete", world.hotel).status_code == 200


@pytest.mark.parametrize(
    ("person", "status"),
    [("org_viewer", 200), ("dist_viewer", 200), ("other_org_admin", 404), ("gateway", 403)],
)
def test_who_reads(world, api, person, status):
    assert call(api, getattr(world, person), "get", world.hotel).status_code == status


def test_each_switch_is_in_the_audit_log(world, api):
    until = NOW + dt.timedelta(days=3)
    call(api, world.partner_admin, "post", world.hotel, {"until": until.isoformat()})
    call(api, world.org_admin, "delete", world.hotel, at=NOW + dt.timedelta(days=1))
    on, off = AuditEntry.objects.filter(kind=Kind.LOCATION_CHANGED).order_by("at")
    assert on.actor_id == world.partner_admin.pk and on.object_id == str(world.hotel.pk)
    assert on.before == {"installation_since": None, "installation_until": None}
    assert on.after == {
        "installation_since": NOW.isoformat(),
        "installation_until": until.isoformat(),
    }
    assert on.organization_id == world.org.pk and on.partner_id == world.partner.pk
    assert off.actor_id == world.org_admin.pk
    assert off.after == {
        "installation_since": None,
        "installation_until": None,
        "counting_since": (NOW + dt.timedelta(days=1)).isoformat(),
    }
