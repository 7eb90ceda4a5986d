"""The license view in words: the history (Upgrades tab) of every kind of event without a
stored field name, id or ISO timestamp; the current term after renewals, on the page and
on the certificate; the start progress of a license pending start; the upgrade form's
module names; the Assign form offering exactly what ``lifecycle.assign`` accepts; and the
request form's warning about a location that already has a license."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from wlm.conftest import provisioned_license
from wlm.connections import services as intake
from wlm.lib.problems import Conflict
from wlm.licenses import current, history, lifecycle, services
from wlm.licenses.models import EventKind, License, LicenseRequest, LicenseStatus, Module
from wlm.licenses.pdf import render_certificate
from wlm.licenses.tests.conftest import ask
from wlm.licenses.tests.test_licenses_api import add_location, aps_license
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.licenses.tests.test_pdf import SAMPLE, text_of
from wlm.locations.models import Location, Room

pytestmark = pytest.mark.django_db

S = LicenseStatus
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|[+-]\d\d:\d\d\b|\.\d{6}")
# what the events store and a reader must never see: field names, stored codes, ids
RAW = re.compile(
    r"status_before_denial|start_date|end_date|license_type|start_mode|fixed_start|"
    r"in_use|pending_start|pending_provision|access_denied|contract_finalized|seed_demo|"
    r"timezone|#\d+"
)
STORED_KEYS = {
    *(field.name for field in License._meta.get_fields()),
    *history.LABELS,
    "years",
}


def at(day: int, hour: int = 10, month: int = 6, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def page(client, user, url, **extra):
    client.force_login(user)
    response = client.get(url, **extra)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def words(fragment: str) -> str:
    """The text a person reads in a piece of the page."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([:;,.])", r"\1", text)


def history_rows(client, user, *licenses) -> dict[str, list[list[str]]]:
    """Each event kind's rows of the licenses' Upgrades tabs, each row as the words of its
    cells and, last, the labels of its changes."""
    rows: dict[str, list[list[str]]] = {}
    for license in licenses:
        body = page(client, user, f"/licenses/{license.pk}/?tab=upgrades")
        for kind, row in re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', body, re.S):
            cells = [words(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            labels = re.findall(r"<small>([^<]*)</small>:", row)
            rows.setdefault(kind, []).append([*cells, labels])
    return rows


# --- The history, every kind of event ----------------------------------------------


@pytest.fixture
def story(world):
    """One license through every change a license can have, by the people and the
    platform who make them, and a second one cancelled before use."""
    world.dist_admin.first_name, world.dist_admin.last_name = "Dana", "Seller"
    world.dist_admin.save()
    branch = add_location(world, "Branch", aps=0)
    with time_machine.travel(at(1), tick=False):
        request = ask(world.partner_admin, world.shop, world.dist, aps=5, years=1)
        license = services.approve_request(world.dist_admin, request.pk)
    with time_machine.travel(at(2, 9), tick=False):
        lifecycle.provision(world.org_admin, world.shop, license.key)
    devices = [f"02:aa:00:00:00:0{n}" for n in range(settings.LICENSE_START_DEVICES)]
    events = [
        {"location": str(world.shop.pk), "device": device, "seen_at": at(3, 9).isoformat()}
        for device in devices
    ]
    with time_machine.travel(at(3, 10), tick=False):
        intake.ingest(events)
    with time_machine.travel(at(4), tick=False):
        lifecycle.upgrade(
            world.dist_admin,
            license.pk,
            limit=8,
            add_modules=[Module.objects.get(code="pms")],
            reason="more rooms",
        )
        lifecycle.assign(world.org_admin, license.pk, branch)
        lifecycle.unassign(world.org_admin, license.pk, branch)
        lifecycle.deny(world.dist_admin, license.pk, "unpaid")
        lifecycle.restore(world.dist_admin, license.pk, "paid")
        lifecycle.renew(world.dist_admin, license.pk, 1)
    with time_machine.travel(at(4, 12, year=2028), tick=False):
        lifecycle.cut_off(license.pk)
    with time_machine.travel(at(5), tick=False):
        unused = services.create_license(
            world.dist_admin,
            services.Terms(
                location=world.hotel, distributor=world.dist, years=1, payment="annual", rooms=3
            ),
        )
        lifecycle.cancel(world.dist_admin, unused.pk, "ordered twice")
    license.refresh_from_db()
    return license, unused, request


def test_every_kind_of_event_reads_as_words(client, world, story):
    license, unused, _request = story
    # the organization sees the cancelled key of neither: it never reached it
    for viewer, seen in [
        (world.org_viewer, [license]),
        (world.dist_viewer, [license, unused]),
        (world.staff_viewer, [license, unused]),
    ]:
        rows = history_rows(client, viewer, *seen)
        kinds = set(EventKind.values) - ({"cancelled"} if unused not in seen else set())
        assert set(rows) == kinds  # each kind is checked
        for kind, kind_rows in rows.items():
            for time, who, what, _reason, changes, labels in kind_rows:
                shown = " ".join([time, who, what, changes])
                assert time.endswith(" UTC"), (kind, time)  # the time zone is named
                assert not UUID.search(shown), (kind, shown)
                assert not ISO_MOMENT.search(shown), (kind, shown)
                assert not RAW.search(shown), (kind, shown)
                assert labels, kind
                for label in labels:  # a field's name in words, never its stored name
                    assert label[0].isupper() and "_" not in label, (kind, label)
                    assert label not in STORED_KEYS, (kind, label)


def test_each_kind_says_who_what_and_from_what_to_what(client, world, story):
    license, unused, request = story
    rows = history_rows(client, world.org_viewer, license)
    rows["cancelled"] = history_rows(client, world.dist_viewer, unused)["cancelled"]

    def only(kind):
        [row] = rows[kind]
        return row[:5]

    time, who, what, _reason, changes = only("created")
    assert time == "2026-06-01 10:00 UTC"
    assert who == "Dana Seller Dist" and what == "Created"
    assert "Request: from Partner on 2026-06-01" in changes
    assert "Type: Access points" in changes and "Limit: 5" in changes
    assert "Modules: Guest Wi-Fi" in changes and "Start mode: Automatic" in changes

    _time, who, what, _reason, changes = only("provisioned")
    # a person of the reader's own tenant: the e-mail (no name given)
    assert who == "org_admin@example.com Org" and what == "Provisioned (Send Key)"
    assert "Status: Pending Provision → Pending Start" in changes
    assert "Organization: — → Org" in changes
    assert "Location: Shop" in changes and "Time zone: Pacific/Auckland" in changes
    assert "Provisioned: — → 2026-06-02 09:00 UTC" in changes

    _time, who, _what, _reason, changes = only("started")
    assert who == "system"
    assert "Start date: — → 2026-06-03" in changes and "End date: — → 2027-06-03" in changes
    assert f"Devices that start it: {settings.LICENSE_START_DEVICES}" in changes
    assert f"First devices: {settings.LICENSE_START_DEVICES} devices" in changes

    _time, who, _what, reason, changes = only("upgraded")
    assert who == "Dana Seller Dist" and reason == "more rooms"
    assert "Limit: 5 → 8" in changes
    assert "Modules: Guest Wi-Fi → Guest Wi-Fi, PMS" in changes

    assert only("assigned")[4] == "Location: Branch"
    assert only("unassigned")[4] == "Location: Branch"
    assert "Status: In Use → Access denied" in only("denied")[4]
    assert "Status: Access denied → In Use" in only("restored")[4]
    _time, _who, _what, _reason, changes = only("renewed")
    assert "Renewed by: 1 year" in changes and "End date: 2027-06-03 → 2028-06-03" in changes
    _time, who, _what, _reason, changes = only("cut_off")
    assert who == "system" and "Status: In Use → Contract finalized" in changes
    _time, who, _what, reason, changes = only("cancelled")
    assert who == "dist_admin@example.com Dist" or who == "Dana Seller Dist"
    assert reason == "ordered twice"
    assert "Status: Pending Provision → Contract finalized" in changes
    assert request.pk  # named by its partner and date above, never by its number


def test_a_person_of_another_tenant_is_named_without_their_e_mail(client, world, story):
    license, _unused, _request = story
    world.dist_admin.first_name = world.dist_admin.last_name = ""
    world.dist_admin.save()
    denied = history_rows(client, world.org_viewer, license)["denied"][0]
    assert denied[1] == "dist_admin Dist"  # the user name and whom they acted for
    own = history_rows(client, world.dist_viewer, license)["denied"][0]
    assert own[1] == "dist_admin@example.com Dist"
    staff = history_rows(client, world.staff_viewer, license)["provisioned"][0]
    assert staff[1] == "org_admin@example.com Org"


def test_moments_are_shown_in_the_current_time_zone_with_its_name():
    names = history.Names([])
    stored = "2026-06-02T09:00:00.123456+00:00"
    assert history.value("provisioned", stored, names) == "2026-06-02 09:00 UTC"
    with timezone.override("Europe/Madrid"):
        assert history.value("provisioned", stored, names) == "2026-06-02 11:00 CEST"


def test_names_that_are_gone_are_not_shown_as_ids(world):
    names = history.Names([])
    assert history.value("organization", 999, names) == "(no longer listed)"
    assert history.value("location", "3f0c2a9e-8b1d-4e7a-9c55-2d8f6b1a7e40", names) == (
        "(no longer listed)"
    )
    assert history.value("request", 12, names) == "(no longer listed)"


# --- The current term ------------------------------------------------------------------


def term_of(client, user, license) -> str:
    body = page(client, user, f"/licenses/{license.pk}/")
    return words(re.search(r'data-testid="license-term">(.*?)</dd>', body, re.S).group(1))


def pdf_text(client, user, license) -> str:
    client.force_login(user)
    response = client.get(f"/licenses/{license.pk}/pdf/")
    assert response.status_code == 200
    return text_of(response.content)


def test_the_term_after_renewals_on_the_page_and_the_certificate(client, world):
    with time_machine.travel(at(10, month=3, year=2027), tick=False):
        license = make_license(world, S.IN_USE)  # 2 years, 2026-01-15 → 2028-01-15
        assert term_of(client, world.org_viewer, license) == "2 years: 2026-01-15 → 2028-01-15"
        assert "2 years: from 2026-01-15 to 2028-01-15" in pdf_text(
            client, world.org_viewer, license
        )
        assert "Renewed" not in pdf_text(client, world.org_viewer, license)
        lifecycle.renew(world.dist_admin, license.pk, 1)  # before the end: the term grows
        assert term_of(client, world.org_viewer, license) == (
            "3 years: 2026-01-15 → 2029-01-15 Renewed once; 3 years licensed in all"
        )
        text = pdf_text(client, world.org_viewer, license)
        assert "3 years: from 2026-01-15 to 2029-01-15" in text
        assert "Renewed once; 3 years licensed in all" in text
        assert "Term 2 years" not in text
    with time_machine.travel(at(1, month=2, year=2029), tick=False):
        lifecycle.renew(world.dist_admin, license.pk, 2)  # after the end: a new term
        assert term_of(client, world.org_viewer, license) == (
            "2 years: 2029-02-01 → 2031-02-01 Renewed 2 times; 5 years licensed in all"
        )
        text = pdf_text(client, world.org_viewer, license)
        assert "2 years: from 2029-02-01 to 2031-02-01" in text
        assert "Renewed 2 times; 5 years licensed in all" in text


def test_a_term_not_started_yet_says_so(client, world):
    license = make_license(world, S.PENDING_START, years=3)
    assert term_of(client, world.org_viewer, license) == "3 years, not started yet"


def test_whole_years_of_a_term_count_a_leap_day_as_add_years_does():
    assert history.whole_years(dt.date(2024, 2, 29), dt.date(2025, 2, 28)) == 1
    assert history.whole_years(dt.date(2024, 2, 29), dt.date(2028, 2, 28)) == 4  # renewed
    assert history.whole_years(dt.date(2026, 1, 15), dt.date(2029, 1, 15)) == 3
    assert history.whole_years(dt.date(2026, 1, 15), dt.date(2029, 1, 14)) == 2


def test_the_certificate_prints_renewals_only_with_their_years_in_all():
    renewed = dataclasses.replace(
        SAMPLE,
        years=4,
        start_date=dt.date(2026, 6, 1),
        end_date=dt.date(2030, 6, 1),
        renewals=1,
        total_years=4,
    )
    text = text_of(render_certificate(renewed))
    assert "4 years: from 2026-06-01 to 2030-06-01" in text
    assert "Renewed once; 4 years licensed in all" in text
    for wrong in ({"renewals": 1}, {"total_years": 4}):
        with pytest.raises(ValueError):
            dataclasses.replace(SAMPLE, **wrong)


# --- The start progress ----------------------------------------------------------------


def progress_of(client, user, license) -> str | None:
    body = page(client, user, f"/licenses/{license.pk}/")
    found = re.search(r'<p class="start-progress"(.*?)</p>', body, re.S)
    return None if found is None else found.group(0)


def test_a_license_pending_start_shows_the_devices_seen_of_those_needed(client, world):
    license = provisioned_license(world, world.shop, at(2, 9))
    needed = settings.LICENSE_START_DEVICES
    shown = progress_of(client, world.org_viewer, license)
    assert f'data-seen="0" data-needed="{needed}"' in shown
    assert f"Devices seen: 0 of {needed} needed to start" in words(shown)
    assert "No device has connected yet." in words(shown)
    events = [
        {
            "location": str(world.shop.pk),
            "device": "02:bb:00:00:00:01",
            "seen_at": at(3, 8).isoformat(),
        },
        {
            "location": str(world.shop.pk),
            "device": "02:bb:00:00:00:02",
            "seen_at": at(3, 9).isoformat(),
        },
        {
            "location": str(world.shop.pk),
            "device": "02:bb:00:00:00:01",
            "seen_at": at(3, 10).isoformat(),
        },
    ]
    with time_machine.travel(at(3, 11), tick=False):
        intake.ingest(events)
    shown = progress_of(client, world.dist_viewer, license)
    assert f'<progress id="start-progress-bar" value="2" max="{needed}">' in shown
    assert f"Devices seen: 2 of {needed} needed to start" in words(shown)
    assert "Last new device seen: 2026-06-03 09:00 UTC" in words(shown)


@pytest.mark.parametrize("status", [S.IN_USE, S.PENDING_PROVISION, S.ACCESS_DENIED])
def test_no_progress_where_nothing_waits_for_devices(client, world, status):
    assert progress_of(client, world.dist_admin, make_license(world, status)) is None


def test_no_progress_for_a_fixed_start(client, world):
    license = provisioned_license(
        world, world.shop, at(2, 9), start_mode="fixed", fixed_start=dt.date(2026, 9, 1)
    )
    assert license.status == S.PENDING_START
    assert progress_of(client, world.dist_admin, license) is None


# --- The upgrade form's modules ----------------------------------------------------------


def test_the_upgrade_form_names_modules_by_their_names(client, world):
    license = make_license(world, S.IN_USE)
    license.modules.add("guest")
    body = page(client, world.dist_admin, f"/licenses/{license.pk}/upgrade/")
    labels = dict(
        re.findall(
            r'<input type="checkbox" name="\w+" value="(\w+)"[^>]*>\s*([^<]+?)\s*</label>', body
        )
    )
    assert labels == dict(Module.objects.values_list("code", "name"))
    for code in labels:
        assert f"({code})" not in body


# --- Assign offers what assign accepts --------------------------------------------------


class _Undo(Exception):
    pass


def accepted(user, license, location) -> bool:
    """Whether ``lifecycle.assign`` takes the location (then undone)."""
    try:
        with transaction.atomic():
            lifecycle.assign(user, license.pk, location)
            raise _Undo
    except _Undo:
        return True
    except (Conflict, ValidationError):
        return False


@pytest.fixture
def crowd(world):
    """Locations of every kind for an access-point license at the shop (limit 5, none in
    use) and a rooms license at the hotel (limit 10, 1 room in use)."""
    aps = aps_license(world, S.IN_USE, limit=5)
    rooms = make_license(world, S.IN_USE)
    taken = add_location(world, "Taken", aps=1)
    lifecycle_free = add_location(world, "Ended there", aps=1)
    held = aps_license(world, S.IN_USE, limit=5, location=taken)
    ended = aps_license(world, S.CONTRACT_FINALIZED, limit=5, location=lifecycle_free)
    inn = add_location(world, "Inn", sector="hospitality")
    resort = add_location(world, "Resort", sector="hospitality")
    for number in range(10):
        Room.objects.create(location=resort, number=str(100 + number))
    Room.objects.create(location=inn, number="1")
    locations = {
        "free": add_location(world, "Free", aps=0),
        "edge": add_location(world, "Edge", aps=5),
        "big": add_location(world, "Big", aps=6),
        "taken": taken,
        "ended": lifecycle_free,
        "inn": inn,
        "resort": resort,
    }
    return {"aps": aps, "rooms": rooms, "held": held, "ended": ended, **locations}


@pytest.mark.parametrize("which", ["aps", "rooms"])
def test_assign_offers_exactly_the_locations_assign_accepts(world, crowd, which):
    license = crowd[which]
    offered = set(lifecycle.assignable(license).values_list("pk", flat=True))
    for location in Location.objects.all():
        assert (location.pk in offered) == accepted(world.org_admin, license, location), (
            which,
            location.name,
        )
    # not the shop (assigned), the hotel (its rooms license is active), Taken (its own
    # license is), Big (6 APs), the other organization's office; for rooms, hospitality
    # only, and the resort's 10 rooms with the hotel's 1 would pass 10
    expected = {"Free", "Edge", "Ended there", "Inn", "Resort"} if which == "aps" else {"Inn"}
    assert set(Location.objects.filter(pk__in=offered).values_list("name", flat=True)) == expected


def test_the_assign_form_offers_them_and_each_one_is_assigned(client, world, crowd):
    license = crowd["aps"]
    body = page(client, world.org_admin, f"/licenses/{license.pk}/assign/")
    options = dict(re.findall(r'<option value="([0-9a-f-]{36})"[^>]*>([^<]+)</option>', body))
    offered = lifecycle.assignable(license)
    assert options == {str(loc.pk): loc.name for loc in offered}
    assert set(options.values()) == {"Free", "Edge", "Ended there", "Inn", "Resort"}
    client.force_login(world.org_admin)
    for pk in options:  # each on its own (together they would pass the limit), then undone
        with pytest.raises(_Undo), transaction.atomic():
            response = client.post(f"/licenses/{license.pk}/assign/", {"location": pk})
            assert response.status_code == 302, response.content[:300]
            assigned = license.assignments.values_list("location", flat=True)
            assert {str(pk) for pk in assigned} == {pk, str(world.shop.pk)}
            raise _Undo


def test_a_location_not_offered_gets_the_rules_refusal(client, world, crowd):
    license = crowd["aps"]
    client.force_login(world.org_admin)
    before = license.assignments.count()
    big = client.post(f"/licenses/{license.pk}/assign/", {"location": crowd["big"].pk})
    assert big.status_code == 400
    assert "allows 5 access points; 6 would be in use" in big.content.decode()
    taken = client.post(f"/licenses/{license.pk}/assign/", {"location": crowd["taken"].pk})
    assert taken.status_code == 400
    assert "This location already holds an active license." in taken.content.decode()
    assert license.assignments.count() == before


# --- The request form's warning ----------------------------------------------------------


def request_form(client, user, **query) -> str:
    client.force_login(user)
    response = client.get("/requests/new/", query)
    assert response.status_code == 200
    return response.content.decode()


def note_of(body: str) -> tuple[bool, str]:
    """(shown, text) of the warning paragraph under the location field."""
    tag = re.search(r'<p class="license-note"[^>]*>(.*?)</p>', body, re.S)
    return ("hidden" not in tag.group(0).split(">")[0], words(tag.group(1)))


def option_note(body: str, location) -> str | None:
    tag = re.search(rf'<option value="{location.pk}"[^>]*>', body).group(0)
    found = re.search(r'data-license-note="([^"]*)"', tag)
    return None if found is None else html.unescape(found.group(1))


def test_each_location_option_carries_the_warning_of_its_license(client, world):
    active = make_license(world, S.IN_USE)  # at the hotel
    pending = services.create_license(
        world.dist_admin,
        services.Terms(
            location=world.shop, distributor=world.dist, years=1, payment="annual", aps=2
        ),
    )
    body = request_form(client, world.partner_admin)
    assert option_note(body, world.hotel) == (
        f"This location already has license {active.key} (In Use). You can still send this "
        "request; the distributor decides."
    )
    assert f"license {pending.key} (Pending Provision)" in option_note(body, world.shop)
    free = add_location(world, "Kiosk", aps=0)
    assert option_note(request_form(client, world.partner_admin), free) is None
    assert note_of(body) == (False, "")  # no location chosen yet


def test_a_finished_license_is_no_reason_to_warn(client, world):
    make_license(world, S.CONTRACT_FINALIZED)
    body = request_form(client, world.partner_admin, location=str(world.hotel.pk))
    assert option_note(body, world.hotel) is None
    assert note_of(body) == (False, "")


def test_without_script_the_chosen_location_shows_its_warning(client, world):
    active = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    body = request_form(client, world.partner_admin, location=str(world.hotel.pk))
    shown, text = note_of(body)
    assert shown and f"license {active.key} (Access denied)" in text


def test_the_warning_does_not_block_and_follows_to_the_next_page(client, world):
    active = make_license(world, S.IN_USE)
    client.force_login(world.partner_admin)
    data = {"location": world.hotel.pk, "distributor": world.dist.pk, "years": 1}
    response = client.post("/requests/new/", {**data, "payment": "annual", "rooms": 5})
    assert response.status_code == 302
    assert LicenseRequest.objects.get().location == world.hotel  # sent all the same
    after = words(client.get(response["Location"]).content.decode())
    assert "Request sent to Dist." in after
    assert (
        f"Note: this location already has license {active.key} (In Use); the distributor "
        "decides on the new request."
    ) in after
    # a location without a license: no note
    client.post(
        "/requests/new/", {**data, "location": world.shop.pk, "payment": "annual", "aps": 2}
    )
    assert "Note:" not in words(client.get("/requests/?q=").content.decode())


def test_a_license_the_user_may_not_see_is_not_named(client, world):
    hidden = services.create_license(
        world.dist_admin,
        services.Terms(
            location=world.hotel, distributor=world.dist, years=1, payment="annual", rooms=5
        ),
    )
    # generated through the organization's former partner, before it moved (test data)
    License.objects.filter(pk=hidden.pk).update(
        distributor=world.other_dist, partner=world.other_partner
    )
    current.refresh([hidden.location_id])  # its stored copies, as after a service's change
    assert not License.objects.visible_to(world.partner_admin).filter(pk=hidden.pk).exists()
    body = request_form(client, world.partner_admin, location=str(world.hotel.pk))
    assert hidden.key not in body
    shown, text = note_of(body)
    assert shown and text == (
        "This location already has an active or pending license. You can still send this "
        "request; the distributor decides."
    )
    staff = request_form(client, world.staff, location=str(world.hotel.pk))
    assert f"license {hidden.key} (Pending Provision)" in note_of(staff)[1]
