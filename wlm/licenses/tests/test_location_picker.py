"""The request form's location field at scale (docs/pages.md, "The location picker"): a
plain select while the user sees at most ``LOCATION_SELECT_MAX`` locations, beyond that a
search (``?location_q=``, and the same page asked by htmx for the select's options) that
shows at most ``LOCATION_SEARCH_MAX`` visible locations; validation is unchanged."""

import html
import re

import pytest

from wlm.licenses import services
from wlm.licenses.forms.requests import LOCATION_SEARCH_MAX, LOCATION_SELECT_MAX
from wlm.licenses.models import LicenseRequest
from wlm.locations.models import Location
from wlm.tenancy.models import Organization

pytestmark = pytest.mark.django_db

NEW = "/requests/new/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "id_location"}
OPTION = re.compile(r'<option value="([0-9a-f-]{36})"([^>]*)>')


def add_locations(organization, count: int, *, prefix: str = "Kiosk") -> list[Location]:
    return Location.objects.bulk_create(
        Location(
            organization=organization,
            name=f"{prefix} {n:03d}",
            sector="retail",
            timezone="UTC",
            country="ES",
        )
        for n in range(count)
    )


def options(body: str) -> dict[str, str]:
    """The location options of a page or of the search's answer: id -> its attributes."""
    return dict(OPTION.findall(body))


def selected(body: str) -> list[str]:
    return [pk for pk, attrs in OPTION.findall(body) if " selected" in attrs]


@pytest.fixture
def crowd(world):
    """The partner sees more locations than a select holds (250 more in a second
    organization); the other partner has locations of the same names."""
    chain = Organization.objects.create(name="Cadena Hostelería", partner=world.partner)
    add_locations(chain, 250)
    other = add_locations(world.other_org, 60)
    return {"chain": chain, "other": other}


def page(client, user, **query) -> str:
    client.force_login(user)
    response = client.get(NEW, query)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_few_locations_stay_a_plain_select(client, world):
    # the world's partner sees 2; up to LOCATION_SELECT_MAX all of them are options
    add_locations(world.org, LOCATION_SELECT_MAX - 2)
    body = page(client, world.partner_admin)
    assert 'data-testid="location-search"' not in body
    assert len(options(body)) == LOCATION_SELECT_MAX
    add_locations(world.org, 1, prefix="One more")
    body = page(client, world.partner_admin)
    assert 'data-testid="location-search"' in body
    assert options(body) == {}  # nothing typed yet: no location listed


def test_the_form_page_query_count_does_not_grow_with_the_locations(
    client, world, crowd, django_assert_max_num_queries
):
    client.force_login(world.partner_admin)
    prefilled = {"location": str(world.hotel.pk), "location_q": "kiosk"}
    with django_assert_max_num_queries(12) as first:
        body = client.get(NEW, prefilled).content.decode()
    assert len(options(body)) == LOCATION_SEARCH_MAX + 1  # the chosen one and 50 found
    add_locations(crowd["chain"], 300, prefix="Kiosk more")
    with django_assert_max_num_queries(len(first.captured_queries)):
        body = client.get(NEW, prefilled).content.decode()
    assert len(options(body)) == LOCATION_SEARCH_MAX + 1
    assert "The first 50 locations found are in the list; type more to narrow it." in body
    with django_assert_max_num_queries(len(first.captured_queries)):
        answer = client.get(NEW, prefilled, **HTMX).content.decode()
    assert len(options(answer)) == LOCATION_SEARCH_MAX + 1


def test_the_search_finds_only_visible_locations_accents_and_case_aside(client, world, crowd):
    client.force_login(world.partner_admin)
    answer = client.get(NEW, {"location_q": "KIOSK 00"}, **HTMX)
    assert answer.status_code == 200
    body = answer.content.decode()
    assert "<form" not in body and "<select" not in body  # the options only
    # each word anywhere: Kiosk 000 … Kiosk 009, 100 and 200 of its own chain
    expected = Location.objects.filter(organization=crowd["chain"], name__contains="00")
    found = set(options(body))
    assert found == {str(pk) for pk in expected.values_list("pk", flat=True)}
    assert len(found) == 12
    assert not found & {str(location.pk) for location in crowd["other"]}
    assert '<optgroup label="Cadena Hostelería">' in body
    assert 'hx-swap-oob="true"' in body and "12 locations found." in body
    # the organization's name, accents and case aside, with a word of the location's
    by_organization = options(
        client.get(NEW, {"location_q": "hosteleria 249"}, **HTMX).content.decode()
    )
    assert list(by_organization) == [
        str(Location.objects.get(organization=crowd["chain"], name="Kiosk 249").pk)
    ]
    # another partner's location is never found, even by its exact name
    client.force_login(world.other_partner_admin)  # 61 locations: a plain select
    theirs = options(client.get(NEW, {"location_q": "Kiosk"}, **HTMX).content.decode())
    assert set(theirs) == {
        str(pk)
        for pk in Location.objects.filter(organization=world.other_org).values_list("pk", flat=True)
    }
    client.force_login(world.partner_admin)
    nothing = client.get(NEW, {"location_q": "Office"}, **HTMX).content.decode()
    assert options(nothing) == {} and "No location found." in nothing


def test_without_script_the_search_narrows_the_select(client, world, crowd):
    body = page(client, world.partner_admin, location_q="hotel")
    assert 'data-testid="location-search"' in body
    assert 'form="location-search"' in body and 'value="hotel"' in body
    assert list(options(body)) == [str(world.hotel.pk)]
    assert f'value="{world.hotel.pk}" data-limit="rooms"' in body
    assert "1 location found." in body


def test_a_prefilled_location_stays_chosen(client, world, crowd):
    body = page(client, world.partner_admin, location=str(world.hotel.pk))
    assert list(options(body)) == [str(world.hotel.pk)]
    assert selected(body) == [str(world.hotel.pk)]
    assert '<div data-limit-field="aps" hidden>' in body  # the hotel takes rooms
    # searching keeps it chosen (the search sends the select's value), and once
    body = page(client, world.partner_admin, location=str(world.hotel.pk), location_q="kiosk")
    assert selected(body) == [str(world.hotel.pk)]
    assert list(options(body)).count(str(world.hotel.pk)) == 1
    # another tenant's location is not chosen, nor listed
    body = page(client, world.partner_admin, location=str(world.other_office.pk))
    assert options(body) == {} and selected(body) == []


def test_found_options_carry_their_limit_and_license_warning(client, world, crowd):
    pending = services.create_license(
        world.dist_admin,
        services.Terms(
            location=world.shop, distributor=world.dist, years=1, payment="annual", aps=2
        ),
    )
    client.force_login(world.partner_admin)
    found = options(client.get(NEW, {"location_q": "shop"}, **HTMX).content.decode())
    assert list(found) == [str(world.shop.pk)]
    assert 'data-limit="aps"' in found[str(world.shop.pk)]
    note = re.search(r'data-license-note="([^"]*)"', found[str(world.shop.pk)]).group(1)
    assert f"license {pending.key} (Pending Provision)" in html.unescape(note)


def test_validation_is_unchanged_by_the_search(client, world, crowd):
    client.force_login(world.partner_admin)
    body = {"distributor": world.dist.pk, "years": 1, "payment": "annual", "aps": 4}
    # another partner's location is refused, as with the select
    refused = client.post(NEW, {**body, "location": crowd["other"][0].pk})
    assert refused.status_code == 400 and 'id="id_location_error"' in refused.content.decode()
    assert LicenseRequest.objects.count() == 0
    # a refused form keeps the posted location chosen when it is a visible one
    kiosk = Location.objects.get(organization=crowd["chain"], name="Kiosk 123")
    bad = client.post(NEW, {**body, "location": kiosk.pk, "aps": 0}).content.decode()
    assert selected(bad) == [str(kiosk.pk)]
    # any visible location is accepted, listed by a search or not
    assert client.post(NEW, {**body, "location": kiosk.pk}).status_code == 302
    assert LicenseRequest.objects.get().location == kiosk


def test_an_overlong_search_is_cut_not_refused(client, world, crowd):
    client.force_login(world.partner_admin)
    response = client.get(NEW, {"location_q": "k" * 5000}, **HTMX)
    assert response.status_code == 200 and options(response.content.decode()) == {}


@pytest.mark.parametrize("who", ["partner_viewer", "dist_admin", "org_admin", "staff_viewer"])
def test_the_search_is_refused_to_non_requesters(client, world, crowd, who):
    client.force_login(getattr(world, who))
    assert client.get(NEW, {"location_q": "kiosk"}, **HTMX).status_code == 403


def test_a_search_needs_a_word_of_three_characters(client, world, crowd):
    """Shorter words alone would match nearly every location, which no index helps
    with: nothing is searched, and the status says why."""
    client.force_login(world.partner_admin)
    short = client.get(NEW, {"location_q": "k 1"}, **HTMX).content.decode()
    assert options(short) == {} and "Type at least 3 characters of a name." in short
    # a short word beside a long one narrows as any word does
    found = options(client.get(NEW, {"location_q": "kio 4 249"}, **HTMX).content.decode())
    assert list(found) == [
        str(Location.objects.get(organization=crowd["chain"], name="Kiosk 249").pk)
    ]
