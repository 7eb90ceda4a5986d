"""The installation mode's pages (docs/pages.md): the location's installation page
(state for whoever sees the location, the switch for its admins and its partner), the
locations list's badge and button, the license view's note and badge, and the partner's
installer devices page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from wlm.conftest import provisioned_license
from wlm.connections import installers
from wlm.connections.models import InstallerDevice
from wlm.connections.services import device_key
from wlm.locations import services
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)  # 13:00 in Madrid (the hotel)


def page(location) -> str:
    return f"/locations/{location.pk}/installation/"


def get(client, user, url, *, at=NOW):
    with time_machine.travel(at, tick=False):
        client.force_login(user)  # a session of that day
        return client.get(url)


def post(client, user, url, data, *, at=NOW):
    with time_machine.travel(at, tick=False):
        client.force_login(user)
        return client.post(url, data)


def fields(location) -> tuple:
    return Location.objects.values_list(
        "installation_since", "installation_until", "counting_since"
    ).get(pk=location.pk)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_an_admin_switches_on_until_a_local_time(client, world):
    answer = post(
        client, world.org_admin, page(world.hotel), {"ends": "date", "until": "2027-03-08T18:00"}
    )
    assert answer.status_code == 302 and answer["Location"] == page(world.hotel)
    # 18:00 in Madrid (CET, UTC+1) is 17:00 UTC
    assert fields(world.hotel) == (NOW, dt.datetime(2027, 3, 8, 17, 0, tzinfo=dt.UTC), None)
    shown = text(get(client, world.org_admin, answer["Location"]))
    assert "Installation mode is on until 2027-03-08 18:00 CET." in shown
    assert 'data-active="true"' in shown
    assert "Since 2027-03-01 13:00 CET, until 2027-03-08 18:00 CET." in shown
    assert "End installation now" in shown


def test_a_partner_switches_on_until_switched_off_then_off(client, world):
    answer = post(client, world.partner_admin, page(world.hotel), {"ends": "off", "until": ""})
    assert answer.status_code == 302
    assert fields(world.hotel) == (NOW, None, None)
    off_at = NOW + dt.timedelta(days=40)
    answer = post(client, world.partner_admin, page(world.hotel), {"action": "end"}, at=off_at)
    assert answer.status_code == 302
    assert fields(world.hotel) == (None, None, off_at)
    shown = text(get(client, world.partner_admin, page(world.hotel), at=off_at))
    assert "connections count from now on" in shown
    assert "The last installation ended at 2027-04-10 14:00 CEST" in shown
    assert 'data-active="false"' in shown


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ends": "date", "until": "2027-04-01T12:00"}, "at most 30 days"),
        ({"ends": "date", "until": "2027-02-01T12:00"}, "must be in the future"),
        ({"ends": "date", "until": ""}, "Choose when the installation ends."),
        ({"ends": "date", "until": "next week"}, "Enter a date and time."),
        ({"ends": "sometime"}, "Select a valid choice."),
    ],
)
def test_a_refused_switch_shows_why_and_stores_nothing(client, world, data, message):
    answer = post(client, world.org_admin, page(world.hotel), data)
    assert answer.status_code == 400
    assert message in text(answer)
    assert fields(world.hotel) == (None, None, None)


def test_switching_off_a_location_not_in_installation_says_so(client, world):
    answer = post(client, world.org_admin, page(world.hotel), {"action": "end"})
    assert answer.status_code == 400
    assert "This location is not in installation." in text(answer)
    assert fields(world.hotel) == (None, None, None)


@pytest.mark.parametrize(
    ("person", "reads", "switches"),
    [
        ("org_admin", 200, 302),
        ("partner_admin", 200, 302),
        ("staff", 200, 302),
        ("org_viewer", 200, 403),
        ("partner_viewer", 200, 403),
        ("dist_admin", 200, 403),  # sees the location, does not manage it
        ("other_org_admin", 404, 404),
        ("other_partner_admin", 404, 404),
    ],
)
def test_who_reads_and_who_switches(client, world, person, reads, switches):
    user = getattr(world, person)
    shown = get(client, user, page(world.hotel))
    assert shown.status_code == reads
    if reads == 200:
        assert ('data-testid="installation-form"' in text(shown)) is (switches == 302)
    answer = post(client, user, page(world.hotel), {"ends": "off"})
    assert answer.status_code == switches
    assert (fields(world.hotel)[0] is not None) is (switches == 302)


def test_anonymous_visitors_log_in_first(client, world):
    for answer in (client.get(page(world.hotel)), client.post(page(world.hotel), {"ends": "off"})):
        assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    assert fields(world.hotel) == (None, None, None)


def test_the_locations_list_shows_the_badge_and_the_button(client, world):
    with time_machine.travel(NOW, tick=False):
        services.start_installation(world.org_admin, world.hotel, until=None)
    shown = text(get(client, world.partner_admin, "/locations/"))
    hotel = re.search(rf'<tr data-id="{world.hotel.pk}">.*?</tr>', shown).group()
    shop = re.search(rf'<tr data-id="{world.shop.pk}">.*?</tr>', shown).group()
    assert 'data-testid="installation-badge"' in hotel
    assert 'data-testid="installation-badge"' not in shop
    assert f'href="{page(world.hotel)}"' in hotel  # the partner's Installation button
    assert 'data-testid="installer-devices-link"' in shown
    viewer = text(get(client, world.org_viewer, "/locations/"))
    assert 'data-testid="installation-button"' not in viewer
    assert 'data-testid="installer-devices-link"' not in viewer


def test_the_license_view_names_its_locations_in_installation(client, world):
    license = provisioned_license(world, world.hotel, NOW - dt.timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        services.start_installation(
            world.partner_admin, world.hotel, until=NOW + dt.timedelta(days=2)
        )
    shown = text(get(client, world.org_admin, f"/licenses/{license.pk}/"))
    assert (
        "Hotel is in installation until 2027-03-03 13:00 CET: devices connecting there do "
        "not count toward the start." in shown
    )
    assert 'data-seen="0"' in shown
    tab = text(get(client, world.dist_viewer, f"/licenses/{license.pk}/?tab=assignments"))
    assert 'data-testid="installation-badge"' in tab
    # its end passed: no note, no badge
    later = NOW + dt.timedelta(days=2)
    assert "in installation" not in text(
        get(client, world.org_admin, f"/licenses/{license.pk}/", at=later)
    )
    tab = text(get(client, world.org_admin, f"/licenses/{license.pk}/?tab=assignments", at=later))
    assert 'data-testid="installation-badge"' not in tab


# --- The installer devices page --------------------------------------------------------

DEVICES = "/installer-devices/"


def test_a_partner_admin_adds_and_removes_a_device(client, world):
    answer = post(
        client, world.partner_admin, DEVICES, {"mac": "02-1a-b0-00-00-01", "label": "Lab phone"}
    )
    assert answer.status_code == 302 and answer["Location"] == DEVICES
    device = InstallerDevice.objects.get()
    assert device.partner == world.partner and device.device == device_key("02:1A:B0:00:00:01")
    shown = text(get(client, world.partner_admin, DEVICES))
    assert "Installer device added: Lab phone" in shown and "02:1A:B0" not in shown.upper()
    again = post(client, world.partner_admin, DEVICES, {"mac": "021ab0000001", "label": "Again"})
    assert again.status_code == 400
    assert "already one of the partner&#x27;s installer devices" in text(again)
    bad = post(client, world.partner_admin, DEVICES, {"mac": "02:1a", "label": ""})
    assert bad.status_code == 400 and "Enter a MAC address" in text(bad)
    assert InstallerDevice.objects.count() == 1
    removed = post(client, world.partner_admin, f"{DEVICES}{device.pk}/remove/", {})
    assert removed.status_code == 302 and not InstallerDevice.objects.exists()


def test_the_page_finds_a_device_by_its_mac(client, world):
    installers.add_installer_device(
        world.partner_admin, world.partner, mac="02:1A:B0:00:00:01", label="One"
    )
    installers.add_installer_device(
        world.partner_admin, world.partner, mac="02:1A:B0:00:00:02", label="Two"
    )
    shown = text(get(client, world.partner_viewer, f"{DEVICES}?mac=021a.b000.0002"))
    assert ">Two<" in shown and ">One<" not in shown
    assert 'data-testid="installer-device-form"' not in shown  # a viewer adds nothing


def test_staff_add_for_a_partner_they_choose(client, world):
    answer = post(
        client,
        world.staff,
        DEVICES,
        {"mac": "02:1A:B0:00:00:01", "partner": world.other_partner.pk},
    )
    assert answer.status_code == 302
    assert InstallerDevice.objects.get().partner == world.other_partner
    assert "Other Partner" in text(get(client, world.staff, DEVICES))


@pytest.mark.parametrize(
    ("person", "reads", "adds", "removes"),
    [
        ("partner_admin", 200, 302, 302),
        ("staff", 200, 400, 302),  # staff must choose the partner (the form's field)
        ("partner_viewer", 200, 403, 403),
        ("staff_viewer", 200, 403, 403),
        ("other_partner_admin", 200, 302, 404),  # adds its own; does not see this one
        ("org_admin", 403, 403, 403),
        ("dist_admin", 403, 403, 403),
        ("gateway", 403, 403, 403),
    ],
)
def test_who_uses_the_installer_devices_page(client, world, person, reads, adds, removes):
    device = installers.add_installer_device(
        world.partner_admin, world.partner, mac="02:1A:B0:00:00:01"
    )
    user = getattr(world, person)
    assert get(client, user, DEVICES).status_code == reads
    assert post(client, user, DEVICES, {"mac": "02:1A:B0:00:00:09"}).status_code == adds
    assert post(client, user, f"{DEVICES}{device.pk}/remove/", {}).status_code == removes
    assert InstallerDevice.objects.filter(pk=device.pk).exists() is (removes != 302)
    client.logout()
    for answer in (client.get(DEVICES), client.post(f"{DEVICES}{device.pk}/remove/")):
        assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
