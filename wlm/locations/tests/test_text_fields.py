"""Names are one line and addresses a few: what every page, list and certificate can show.

The rule is on the model fields (``wlm.lib.validators``), so the API, the services'
``full_clean`` and the admin refuse the same values, naming the field, and store nothing.
"""

import pytest

from wlm.licenses.models import Module
from wlm.locations.models import AccessPoint, Location
from wlm.tenancy.models import Distributor, Organization, Partner

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
NEW_LOCATION = {
    "name": "Cafe",
    "sector": "retail",
    "timezone": "Europe/Madrid",
    "address": "Gran Via 1",
    "country": "ES",
}
TALL = "Calle 1" + "\n" * 150 + "28001 Madrid"  # (trailing breaks would be trimmed)
NAMES = {
    "line break": "Hotel\nGrand",
    "ninety lines": "\n".join(["H"] * 90),  # 179 characters: within the length
    "carriage return": "Hotel\rGrand",
    "tab": "Hotel\tGrand",
    "nul": "Hotel\x00Grand",
    "escape": "Hotel\x1b[31mGrand",
    "line separator": "Hotel\u2028Grand",
    "next line": "Hotel\x85Grand",
    "too long": "H" * 201,
}
ADDRESSES = {
    "150 line breaks": TALL,
    "six lines": "\n".join(["Line"] * 6),
    "form feed": "Calle 1\x0cMadrid",
    "nul": "Calle 1\x00",
    "paragraph separator": "Calle 1\u2029Madrid",
    "too long": "C" * 301,
}


def refused(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"], response.json()


def create(world, api, what, name):
    """POST a new row of ``what`` named ``name`` as one who may; (response, rows query)."""
    if what == "location":
        body = {**NEW_LOCATION, "name": name, "organization": world.org.pk}
        return api(world.org_admin).post("/api/v1/locations/", body, format="json"), (
            Location.objects.filter(organization=world.org).exclude(name__in=["Hotel", "Shop"])
        )
    if what == "organization":
        body = {"name": name, "email": "o@example.com"}
        return api(world.partner_admin).post("/api/v1/organizations/", body, format="json"), (
            Organization.objects.exclude(name__in=["Org", "Other Org"])
        )
    if what == "partner":
        body = {"name": name, "distributors": [world.dist.pk]}
        return api(world.staff).post("/api/v1/partners/", body, format="json"), (
            Partner.objects.exclude(name__in=["Partner", "Other Partner"])
        )
    if what == "distributor":
        body = {"name": name}
        return api(world.staff).post("/api/v1/distributors/", body, format="json"), (
            Distributor.objects.exclude(name__in=["Dist", "Other Dist"])
        )
    if what == "access point":
        url = f"/api/v1/locations/{world.shop.pk}/access-points/"
        body = {"mac": "0a:0b:0c:0d:0e:0f", "name": name}
        return api(world.org_admin).post(url, body, format="json"), (
            AccessPoint.objects.filter(location=world.shop)
        )
    body = {"code": "radius", "name": name}
    return api(world.staff).post("/api/v1/modules/", body, format="json"), (
        Module.objects.filter(code="radius")
    )


WHAT = ["location", "organization", "partner", "distributor", "access point", "module"]


@pytest.mark.parametrize("value", list(NAMES), ids=str)
@pytest.mark.parametrize("what", WHAT)
def test_names_are_one_line_of_printable_text(world, api, what, value):
    response, rows = create(world, api, what, NAMES[value])
    refused(response, "name")
    assert not rows.exists()


@pytest.mark.parametrize("what", WHAT)
def test_an_ordinary_name_is_accepted(world, api, what):
    response, rows = create(world, api, what, "Ñandú & Co. <Málaga> 😀")
    assert response.status_code == 201, response.content
    assert rows.get().name == "Ñandú & Co. <Málaga> 😀"


@pytest.mark.parametrize("value", list(ADDRESSES), ids=str)
def test_addresses_are_a_few_lines(world, api, value):
    body = {**NEW_LOCATION, "organization": world.org.pk, "address": ADDRESSES[value]}
    refused(api(world.org_admin).post("/api/v1/locations/", body, format="json"), "address")
    assert not Location.objects.filter(name="Cafe").exists()
    response = api(world.org_admin).patch(
        f"/api/v1/locations/{world.shop.pk}/", {"address": ADDRESSES[value]}, format="json"
    )
    refused(response, "address")
    world.shop.refresh_from_db()
    assert world.shop.address == "Queen St 2"


def test_five_address_lines_are_accepted_as_a_browser_sends_them(world, api):
    address = "Hotel Mar Azul\r\nPaseo Marítimo 7\r\nPlanta 2\r\n29016 Málaga\r\nEspaña"
    body = {**NEW_LOCATION, "organization": world.org.pk, "address": address}
    response = api(world.org_admin).post("/api/v1/locations/", body, format="json")
    assert response.status_code == 201, response.content


def test_location_rename_to_several_lines_is_refused(world, api):
    response = api(world.org_admin).patch(
        f"/api/v1/locations/{world.shop.pk}/", {"name": NAMES["ninety lines"]}, format="json"
    )
    refused(response, "name")
    world.shop.refresh_from_db()
    assert world.shop.name == "Shop"


def test_the_admin_refuses_the_same_values(world, client):
    client.force_login(world.staff)
    world.staff.is_staff = world.staff.is_superuser = True
    world.staff.save()
    url = f"/admin/locations/location/{world.shop.pk}/change/"
    form = {
        "name": "Shop\nTwo",
        "sector": "retail",
        "timezone": "Pacific/Auckland",
        "address": TALL,
        "country": "NZ",
        **{
            f"{prefix}-{name}": value
            for prefix in ("access_points", "rooms")
            for name, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))
        },
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["adminform"].form.errors
    assert {"name", "address"} <= set(errors)
    world.shop.refresh_from_db()
    assert (world.shop.name, world.shop.address) == ("Shop", "Queen St 2")
