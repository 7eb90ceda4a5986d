"""A partner's installer devices through the API (docs/api.md): registered by MAC and
kept only as its keyed hash, listed and found by MAC, removed; who may; bad input and
duplicates; the audit log; the limit per partner, also under concurrency."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection

from wlm.audit.models import AuditEntry, Kind
from wlm.connections import installers
from wlm.connections.models import InstallerDevice
from wlm.connections.services import device_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/installer-devices/"
NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"


def add(api, user, body):
    with time_machine.travel(NOW, tick=False):
        return api(user).post(URL, body, format="json")


def test_a_partner_admin_registers_a_device_kept_as_its_hash(world, api):
    answer = add(api, world.partner_admin, {"mac": "02-1a-b0-00-00-01", "label": " Lab phone "})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body == {
        "id": body["id"],
        "partner": world.partner.pk,
        "label": "Lab phone",
        "created": "2027-03-01T12:00:00Z",
    }
    row = InstallerDevice.objects.get()
    assert row.device == device_key("02:1A:B0:00:00:01")  # the intake's hash of the same MAC
    with connection.cursor() as cursor:  # nowhere in clear
        cursor.execute("SELECT * FROM connections_installerdevice")
        stored = " ".join(map(str, cursor.fetchall())).upper()
    assert "02:1A:B0" not in stored and "021AB0" not in stored and "02-1A-B0" not in stored


def test_staff_names_the_partner(world, api):
    missing = add(api, world.staff, {"mac": "02:1A:B0:00:00:01"})
    assert missing.status_code == 400 and "partner" in missing.json()["errors"]
    named = add(api, world.staff, {"mac": "02:1A:B0:00:00:01", "partner": world.partner.pk})
    assert named.status_code == 201


def test_a_partner_cannot_register_for_another(world, api):
    answer = add(
        api, world.partner_admin, {"mac": "021ab0000001", "partner": world.other_partner.pk}
    )
    assert answer.status_code == 400 and "partner" in answer.json()["errors"]
    assert not InstallerDevice.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mac": "02:1A:B0:00:00"}, "mac"),
        ({"mac": "not a mac"}, "mac"),
        ({"mac": ""}, "mac"),
        ({}, "mac"),
        ({"mac": "02:1A:B0:00:00:01", "label": "two\nlines"}, "label"),
        ({"mac": "02:1A:B0:00:00:01", "label": "x" * 101}, "label"),
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(world, api, body, field):
    answer = add(api, world.partner_admin, body)
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == PROBLEM and field in answer.json()["errors"]
    assert not InstallerDevice.objects.exists()
    assert not AuditEntry.objects.filter(kind=Kind.TENANT_SETTINGS_CHANGED).exists()


def test_the_same_device_twice_is_a_409(world, api):
    assert add(api, world.partner_admin, {"mac": "02:1A:B0:00:00:01"}).status_code == 201
    again = add(api, world.partner_admin, {"mac": "021A.B000.0001"})
    assert again.status_code == 409 and again["Content-Type"] == PROBLEM
    assert InstallerDevice.objects.count() == 1
    # another partner may have it too: a device per partner
    assert add(api, world.other_partner_admin, {"mac": "02:1A:B0:00:00:01"}).status_code == 201


def test_a_partner_has_at_most_the_limit(world, api, monkeypatch):
    monkeypatch.setattr(installers, "MAX_PER_PARTNER", 2)
    for n in range(2):
        assert add(api, world.partner_admin, {"mac": f"02:1A:B0:00:00:0{n}"}).status_code == 201
    refused = add(api, world.partner_admin, {"mac": "02:1A:B0:00:00:09"})
    assert refused.status_code == 409 and "at most 2" in refused.json()["detail"]
    assert InstallerDevice.objects.count() == 2


@pytest.mark.parametrize(
    ("person", "sees"),
    [
        ("partner_admin", True),
        ("partner_viewer", True),
        ("staff", True),
        ("staff_viewer", True),
        ("org_admin", False),  # the customer's users see only the effect
        ("dist_admin", False),
        ("other_partner_admin", False),
    ],
)
def test_who_reads_them(world, api, person, sees):
    device = installers.add_installer_device(
        world.partner_admin, world.partner, mac="02:1A:B0:00:00:01", label="Lab"
    )
    listed = api(getattr(world, person)).get(URL).json()["results"]
    assert [row["id"] for row in listed] == ([device.pk] if sees else [])
    detail = api(getattr(world, person)).get(f"{URL}{device.pk}/")
    assert detail.status_code == (200 if sees else 404)
    assert "mac" not in detail.json() if sees else True


def test_found_by_mac_in_any_notation(world, api):
    device = installers.add_installer_device(
        world.partner_admin, world.partner, mac="02:1A:B0:00:00:01"
    )
    installers.add_installer_device(world.partner_admin, world.partner, mac="02:1A:B0:00:00:02")
    client = api(world.partner_admin)
    found = client.get(URL, {"mac": "021a.b000.0001"}).json()["results"]
    assert [row["id"] for row in found] == [device.pk]
    assert client.get(URL, {"mac": "02:1A:B0:00:00:03"}).json()["results"] == []
    bad = client.get(URL, {"mac": "02:1A"})
    assert bad.status_code == 400 and "mac" in bad.json()["errors"]


def test_removed_by_its_partners_admin_and_audited(world, api):
    with time_machine.travel(NOW, tick=False):
        device = installers.add_installer_device(
            world.partner_admin, world.partner, mac="02:1A:B0:00:00:01", label="Lab"
        )
    assert api(world.partner_viewer).delete(f"{URL}{device.pk}/").status_code == 403
    assert api(world.other_partner_admin).delete(f"{URL}{device.pk}/").status_code == 404
    assert api(world.org_admin).delete(f"{URL}{device.pk}/").status_code == 403
    assert api(world.partner_admin).delete(f"{URL}{device.pk}/").status_code == 204
    assert not InstallerDevice.objects.exists()
    added, removed = AuditEntry.objects.filter(kind=Kind.TENANT_SETTINGS_CHANGED).order_by("id")
    assert added.after == {"installer_device": "Lab"} and added.partner_id == world.partner.pk
    assert removed.before == {"installer_device": "Lab"}
    assert removed.actor_id == world.partner_admin.pk
    assert "02:1A" not in str(added.after) + added.object_label


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
@pytest.mark.postgres_only
def test_parallel_registrations_stay_within_the_limit(world, monkeypatch):
    """Eight admins registering eight devices at once, three places left: the partner's
    row lock lets exactly three in; the rest get the limit's 409."""
    from wlm.lib.problems import Conflict
    from wlm.licenses.tests.test_races import WORKERS
    from wlm.tests.races import race

    monkeypatch.setattr(installers, "MAX_PER_PARTNER", 3)

    def register(n):
        return installers.add_installer_device(
            world.partner_admin, world.partner, mac=f"02:1A:B0:00:00:{n:02X}"
        )

    outcomes = race(register, [(n,) for n in range(WORKERS)])
    assert InstallerDevice.objects.filter(partner=world.partner).count() == 3
    assert sum(isinstance(o, InstallerDevice) for o in outcomes) == 3
    refused = [o for o in outcomes if not isinstance(o, InstallerDevice)]
    assert all(isinstance(o, Conflict) for o in refused), refused


def test_the_csv_has_the_json_columns_then_the_partner_name(world, api):
    import csv
    import io

    with time_machine.travel(NOW, tick=False):
        device = installers.add_installer_device(
            world.partner_admin, world.partner, mac="02:1A:B0:00:00:01", label="=cmd"
        )
    answer = api(world.partner_viewer).get(URL, {"format": "csv"})
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert rows == [
        {
            "id": str(device.pk),
            "partner": str(world.partner.pk),
            "label": "'=cmd",  # defused against spreadsheet formulas
            "created": "2027-03-01T12:00:00Z",
            "partner_name": "Partner",
        }
    ]
