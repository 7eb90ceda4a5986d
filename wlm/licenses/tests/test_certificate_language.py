"""The certificate in its customer's language, or the one asked for; an API error in one
language, the client's (docs/i18n.md)."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.utils import translation
from pypdf import PdfReader

from wlm.licenses.tests.test_tokens import generated
from wlm.tenancy.models import Membership
from wlm.tests.i18n import spanish

pytestmark = pytest.mark.django_db


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages).split())


@pytest.fixture
def spanish_hotel(world):
    world.org.language = "es"
    world.org.save()
    return world


def test_a_spanish_customers_certificate_is_spanish_whoever_downloads_it(spanish_hotel, api):
    world = spanish_hotel
    license = generated(world)  # before Send Key: the intended location's organization
    response = api(world.dist_admin).get(f"/api/v1/licenses/{license.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    text = text_of(response.content)
    assert spanish("License certificate") in text and "License certificate" not in text
    assert spanish("Verify this license") in text
    assert "2 años, " in text  # the plural, in Spanish


def test_a_parameter_chooses_the_certificates_language(spanish_hotel, api, client):
    world = spanish_hotel
    license = generated(world)
    response = api(world.dist_admin).get(f"/api/v1/licenses/{license.pk}/pdf/?language=en")
    assert response["Content-Language"] == "en"
    assert "License certificate" in text_of(response.content)
    client.force_login(world.dist_admin)
    page = client.get(f"/licenses/{license.pk}/pdf/?language=en")
    assert page.status_code == 200 and "License certificate" in text_of(page.content)
    assert spanish("License certificate") in text_of(
        client.get(f"/licenses/{license.pk}/pdf/").content
    )


def test_an_unknown_language_is_a_clear_error(world, api, client):
    license = generated(world)
    response = api(world.dist_admin).get(f"/api/v1/licenses/{license.pk}/pdf/?language=xx")
    assert response.status_code == 400
    assert response.json()["errors"]["language"] == ["Choose one of: en, es."]
    client.force_login(world.dist_admin)
    assert client.get(f"/licenses/{license.pk}/pdf/?language=xx").status_code == 400


def test_an_api_error_is_in_one_language_the_clients(world, api):
    Membership.objects.filter(user=world.dist_admin).update(language="es")
    response = api(world.dist_admin).get("/api/v1/licenses/999999/")
    assert response.status_code == 404
    body = response.json()
    assert body["title"] == spanish("Not Found") != "Not Found"
    with translation.override("es"):
        from rest_framework.exceptions import NotFound

        assert body["detail"] == str(NotFound.default_detail)
    assert body["detail"] != "Not found."
    english = api(world.partner_admin).get("/api/v1/licenses/999999/").json()
    assert (english["title"], english["detail"]) == ("Not Found", "Not found.")


def test_invalid_fields_are_explained_in_spanish(world, api):
    Membership.objects.filter(user=world.org_admin).update(language="es")
    response = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/activate/", {}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == spanish("Bad Request")
    assert body["detail"] == spanish("The request has invalid fields.")
    with translation.override("es"):
        required = str(translation.gettext("This field is required."))  # DRF's own
    assert body["errors"]["key"] == [required] != ["This field is required."]
