"""``q`` ignores accents and case, on SQLite and PostgreSQL (wlm/lib/search.py): "Malaga"
finds "Málaga", "pena" finds "PEÑA" and "peña" finds "Pena", in every list that searches
names; a license key is still found as typed in any case."""

from __future__ import annotations

import pytest

from wlm.lib.search import Fold, fold
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations.models import Location

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Málaga", "MALAGA"),
        ("peña", "PENA"),
        ("São João", "SAO JOAO"),
        ("Ærøskøbing", "AEROSKOBING"),
        ("Straße", "STRASSE"),
        ("Łódź", "LODZ"),
        ("", ""),
        (None, None),
    ],
)
def test_fold_strips_accents_and_capitalises(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize(
    "text", ["Málaga", "peña", "São João", "Ærøskøbing", "Straße", "Łódź", "École Ünïon"]
)
def test_the_database_folds_as_python_does(world, text):
    """PostgreSQL's upper(unaccent()) and the SQLite function give the same text."""
    rows = Location.objects.filter(pk=world.hotel.pk)
    rows.update(name=text)
    assert rows.annotate(folded=Fold("name")).values_list("folded", flat=True).get() == fold(text)


def _places(world, *names: str) -> dict[str, Location]:
    return {
        name: Location.objects.create(
            organization=world.org, name=name, sector="hospitality", timezone="Europe/Madrid"
        )
        for name in names
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("Malaga", {"Hotel Málaga Centro"}),
        ("MÁLAGA", {"Hotel Málaga Centro"}),
        ("málaga centro", {"Hotel Málaga Centro"}),  # every word must match
        ("pena", {"Casa PEÑA", "Bar Pena"}),
        ("peña", {"Casa PEÑA", "Bar Pena"}),
        ("Cordoba", set()),
    ],
)
def test_the_locations_list_finds_names_whatever_their_accents(world, api, query, found):
    _places(world, "Hotel Málaga Centro", "Casa PEÑA", "Bar Pena")
    rows = api(world.org_admin).get("/api/v1/locations/", {"q": query}).json()["results"]
    assert {row["name"] for row in rows} == found


def test_the_licenses_list_and_its_page_find_an_organization_without_its_accents(
    world, api, client
):
    world.org.name = "Hoteles Peñíscola"
    world.org.save()
    license = make_license(world, LicenseStatus.IN_USE)
    rows = api(world.dist_admin).get("/api/v1/licenses/", {"q": "peniscola"}).json()["results"]
    assert [row["key"] for row in rows] == [license.key]
    client.force_login(world.dist_admin)
    page = client.get("/licenses/", {"q": "PENISCOLA"}).content.decode()
    assert f'data-key="{license.key}"' in page
    lower = license.key.lower()[:8]  # a key, typed in any case
    rows = api(world.dist_admin).get("/api/v1/licenses/", {"q": lower}).json()["results"]
    assert [row["key"] for row in rows] == [license.key]


def test_a_search_term_with_wildcards_is_literal(world, api):
    _places(world, "100% Wi-Fi", "Under_score", "Plain")
    for query, found in (("100%", {"100% Wi-Fi"}), ("r_s", {"Under_score"}), ("%", {"100% Wi-Fi"})):
        rows = api(world.org_admin).get("/api/v1/locations/", {"q": query}).json()["results"]
        assert {row["name"] for row in rows} == found
