"""A license's signed terms (wlm.licenses.tokens): every field round-trips through the
signature, a new token whenever the terms change (and only then), the detail carries the
latest."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from wlm.licenses import lifecycle, services, signing, tokens
from wlm.licenses.models import License, LicenseStatus, Module, SignedLicense
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db
S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)


def claims(license) -> dict:
    """The latest token's claims, checked with the published keys."""
    return signing.verify(tokens.latest(License.objects.get(pk=license.pk)), signing.jwks())


def generated(world) -> License:
    """A license made as the distributor makes one (through the services)."""
    terms = services.Terms(
        location=world.hotel,
        distributor=world.dist,
        years=2,
        payment="annual",
        rooms=10,
        modules=tuple(Module.objects.filter(code="pms")),
    )
    return services.create_license(world.dist_admin, terms)


@time_machine.travel(NOW, tick=False)
def test_a_new_license_is_signed_with_every_term(world, settings):
    settings.PUBLIC_URL = "https://wifi.example"
    license = generated(world)
    found = claims(license)
    assert found["iss"] == "https://wifi.example"
    assert set(found) == {"iss", "iat", "lic"}  # no sub, no jti: bytes in the QR code
    assert found["iat"] == int(NOW.timestamp())
    modules = sorted(license.modules.values_list("code", flat=True))
    assert "pms" in modules
    assert found["lic"] == {
        "id": license.pk,
        "key": license.key,
        "distributor": {"id": world.dist.pk, "name": world.dist.name},
        "partner": {"id": world.partner.pk, "name": world.partner.name},
        "organization": None,  # until Send Key
        "locations": [{"id": str(world.hotel.pk), "name": world.hotel.name}],
        "type": "rooms",
        "limit": 10,
        "modules": modules,
        "years": 2,
        "payment": "annual",
        "start_mode": "automatic",
        "fixed_start": None,
        "start": None,
        "end": None,
    }


def test_each_change_of_terms_signs_again_and_a_status_change_does_not(world):
    license = generated(world)
    seen = [tokens.latest(License.objects.get(pk=license.pk))]

    def latest():
        return tokens.latest(License.objects.get(pk=license.pk))

    lifecycle.provision(world.org_admin, world.hotel, license.key)
    assert claims(license)["lic"]["organization"] == {"id": world.org.pk, "name": world.org.name}
    seen.append(latest())
    with time_machine.travel(NOW, tick=False):
        lifecycle.start(license.pk, dt.date(2027, 3, 10))
    lic = claims(license)["lic"]
    assert (lic["start"], lic["end"]) == ("2027-03-10", "2029-03-10")
    seen.append(latest())
    lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    lifecycle.restore(world.dist_admin, license.pk, "paid")
    assert latest() == seen[-1]  # the terms did not change: the same token
    analytics = Module.objects.get(code="analytics")
    lifecycle.upgrade(world.dist_admin, license.pk, limit=12, add_modules=[analytics])
    lic = claims(license)["lic"]
    assert lic["limit"] == 12 and "analytics" in lic["modules"]
    seen.append(latest())
    annex = Location.objects.create(
        organization=world.org, name="Annex", sector="hospitality", timezone="Europe/Madrid"
    )
    lifecycle.assign(world.org_admin, license.pk, annex)
    assert [place["name"] for place in claims(license)["lic"]["locations"]] == [
        world.hotel.name,
        "Annex",
    ]
    seen.append(latest())
    lifecycle.renew(world.dist_admin, license.pk, 1)
    assert claims(license)["lic"]["end"] == "2030-03-10"
    seen.append(latest())
    assert len(set(seen)) == len(seen)  # each one new
    assert SignedLicense.objects.filter(license=license).count() == 1  # the latest only


def test_a_license_made_past_the_lifecycle_gets_its_token_on_first_read(world):
    license = make_license(world, S.IN_USE)  # written directly, as generate_load does
    assert not SignedLicense.objects.filter(license=license).exists()
    first = tokens.latest(license)
    assert claims(license)["lic"]["end"] == license.end_date.isoformat()
    assert tokens.latest(License.objects.get(pk=license.pk)) == first


def test_the_detail_carries_the_latest_token(world, api):
    license = generated(world)
    response = api(world.dist_admin).get(f"/api/v1/licenses/{license.pk}/")
    assert response.json()["token"] == tokens.latest(License.objects.get(pk=license.pk))
    assert signing.verify(response.json()["token"])["lic"]["key"] == license.key


def test_names_are_cut_to_their_budget_in_the_token_and_ids_stay_exact(world):
    world.dist.name = "Distribución " + "Ñ" * 100  # 2 bytes a letter
    world.dist.save()
    world.partner.name = '"' * 60  # each one 2 bytes in JSON (escaped)
    world.partner.save()
    license = generated(world)
    lic = claims(license)["lic"]
    for party in (lic["distributor"], lic["partner"]):
        encoded = json.dumps(party["name"], ensure_ascii=False).encode()
        assert len(encoded) - 2 <= tokens.NAME_BYTES
        assert party["name"].endswith("…")
    assert lic["distributor"]["name"].startswith("Distribución ÑÑ")
    assert lic["distributor"]["id"] == world.dist.pk
    assert lic["locations"][0]["name"] == world.hotel.name  # a short name is whole


def test_the_token_lists_the_first_locations_and_counts_the_others(world):
    license = generated(world)
    lifecycle.provision(world.org_admin, world.hotel, license.key)
    more = [
        Location.objects.create(
            organization=world.org, name=f"Annex {n}", sector="hospitality", timezone="UTC"
        )
        for n in range(tokens.TOKEN_LOCATIONS + 1)
    ]
    for place in more:
        lifecycle.assign(world.org_admin, license.pk, place)
    lic = claims(license)["lic"]
    assert [place["id"] for place in lic["locations"]] == [
        str(place.pk) for place in [world.hotel, *more][: tokens.TOKEN_LOCATIONS]
    ]
    assert lic["more_locations"] == 2
    assert "more_locations" not in claims(generated(world))["lic"]  # only when there are
